// http_server is the Go peer of goro's examples/http_server.cpp: the seed's "Hello, World!"
// net/http server, measured by benchmarks/http/run.sh the same way as the goro and
// thread-per-connection servers (GOMAXPROCS plays the part of GORO_MAXPROCS).
//
// Usage: http_server [port] (default 8080).
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
)

func handler(w http.ResponseWriter, r *http.Request) {
	fmt.Fprint(w, "Hello, World!")
}

func main() {
	port := "8080"
	if len(os.Args) > 1 {
		port = os.Args[1]
	}
	http.HandleFunc("/", handler)
	fmt.Println("Server listening on port " + port)
	log.Fatal(http.ListenAndServe(":"+port, nil))
}
