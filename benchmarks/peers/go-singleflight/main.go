// The loops of benchmarks/sync_bench.cpp's singleflight benchmarks, in Go with
// golang.org/x/sync/singleflight, for the comparison in docs/benchmarks.md. It needs Debian's
// golang-golang-x-sync-dev and is built in GOPATH mode:
//
//	cd benchmarks/peers/go-singleflight
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o /tmp/go-singleflight . && /tmp/go-singleflight
package main

import (
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

func main() {
	runtime.GOMAXPROCS(2)
	var g singleflight.Group
	var keys [8]string
	for i := range keys {
		keys[i] = strconv.Itoa(i)
	}

	// A call that finds no call in flight, over eight keys in turn.
	const n = 1000000
	start := time.Now()
	sum := 0
	for i := 0; i < n; i++ {
		i := i
		v, _, _ := g.Do(keys[i&7], func() (interface{}, error) { return i, nil })
		sum += v.(int)
	}
	fmt.Printf("singleflight_call_uncontended: %.1f ns per call (sum %d)\n",
		float64(time.Since(start).Nanoseconds())/n, sum)

	// 8 goroutines, each making callsEach calls of one key whose function yields once.
	const goroutines, callsEach = 8, 20000
	var functionsRun int64
	var wg sync.WaitGroup
	start = time.Now()
	for w := 0; w < goroutines; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < callsEach; i++ {
				g.Do("1", func() (interface{}, error) {
					atomic.AddInt64(&functionsRun, 1)
					runtime.Gosched()
					return 1, nil
				})
			}
		}()
	}
	wg.Wait()
	calls := goroutines * callsEach
	fmt.Printf("singleflight_one_key_8_goroutines: %.1f ns per call, %.1f calls per function\n",
		float64(time.Since(start).Nanoseconds())/float64(calls),
		float64(calls)/float64(functionsRun))
}
