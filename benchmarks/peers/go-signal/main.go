// The loops of benchmarks/signals_bench.cpp, in Go with os/signal, for the comparison in
// docs/benchmarks.md:
//
//	cd benchmarks/peers/go-signal && go build -o /tmp/go-signal . && /tmp/go-signal
package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"
)

func main() {
	runtime.GOMAXPROCS(2)
	pid := syscall.Getpid()

	// A goroutine sends SIGUSR1 to its own process and receives it on a notified channel.
	const trips = 200000
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR1)
	start := time.Now()
	for i := 0; i < trips; i++ {
		syscall.Kill(pid, syscall.SIGUSR1)
		<-c
	}
	fmt.Printf("signal_round_trip: %.0f ns per round trip\n",
		float64(time.Since(start).Nanoseconds())/trips)
	signal.Stop(c)

	// Notify and Stop of one channel for one signal.
	const pairs = 200000
	d := make(chan os.Signal, 1)
	start = time.Now()
	for i := 0; i < pairs; i++ {
		signal.Notify(d, syscall.SIGUSR1)
		signal.Stop(d)
	}
	fmt.Printf("signal_notify_stop: %.0f ns per notify and stop\n",
		float64(time.Since(start).Nanoseconds())/pairs)
}
