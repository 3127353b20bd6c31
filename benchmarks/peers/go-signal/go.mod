module goro.example/benchmarks/peers/go-signal

go 1.19
