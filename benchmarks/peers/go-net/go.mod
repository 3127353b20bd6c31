module goro.example/benchmarks/peers/go-net

go 1.19
