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
	"strconv"
	"time"
)

// handlerWait stands for a handler that does I/O, as in the C++ servers: HTTP_HANDLER_WAIT_US.
var handlerWait time.Duration

func handler(w http.ResponseWriter, r *http.Request) {
	if handlerWait > 0 {
		time.Sleep(handlerWait)
	}
	fmt.Fprint(w, "Hello, World!")
}

func main() {
	port := "8080"
	if len(os.Args) > 1 {
		port = os.Args[1]
	}
	if us, err := strconv.Atoi(os.Getenv("HTTP_HANDLER_WAIT_US")); err == nil {
		handlerWait = time.Duration(us) * time.Microsecond
	}
	http.HandleFunc("/", handler)
	fmt.Println("Server listening on port " + port)
	log.Fatal(http.ListenAndServe(":"+port, nil))
}
