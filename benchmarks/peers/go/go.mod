module goro.example/benchmarks/peers/go

go 1.19
