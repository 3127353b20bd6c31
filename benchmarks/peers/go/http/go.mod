module goro.example/benchmarks/peers/go/http

go 1.19
