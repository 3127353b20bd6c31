// Command peers_go is the Go side of goro's side-by-side comparison (tools/compare): the
// workloads of benchmarks/compare/ written with Go's standard library, one workload per run.
//
//	peers_go -workload skynet [-n 1000000] [-workers 2]
//
// It prints one line in the format every comparison program shares:
//
//	RESULT system=go workload=skynet workers=2 n=1000000 value=0.612345 unit=s check=499999500000
//
// value is the elapsed time of the timed section in seconds (unit=s), or KiB of resident memory
// per parked goroutine (unit=KiB) for idle_memory. check is the workload's result; the program
// exits non-zero, without a RESULT line, when check is not what the workload must produce.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// workload describes one benchmark: its default size and the function that runs it.
type workload struct {
	defaultN int64
	unit     string
	// run executes the workload of size n and returns the measured value and the check value.
	run func(n int64) (value float64, check int64)
	// expected returns the check value a correct run of size n produces.
	expected func(n int64) int64
}

func triangle(n int64) int64 { return n * (n - 1) / 2 }
func identity(n int64) int64 { return n }

var workloads = map[string]workload{
	"skynet":      {1_000_000, "s", skynetWorkload, triangle},
	"spawn":       {1_000_000, "s", spawnWorkload, triangle},
	"pingpong":    {1_000_000, "s", pingpongWorkload, triangle},
	"spsc":        {10_000_000, "s", spscWorkload, triangle},
	"mpmc":        {4_000_000, "s", mpmcWorkload, triangle},
	"select":      {4_000_000, "s", selectWorkload, triangle},
	"mutex":       {10_000_000, "s", mutexWorkload, identity},
	"idle_memory": {100_000, "KiB", idleMemoryWorkload, identity},
	"timers":      {100_000, "s", timersWorkload, identity},
	"yield":       {2_000_000, "s", yieldWorkload, identity},
	"ctx_cancel":  {10_000, "s", ctxCancelWorkload, identity},
	"parallel":    {256, "s", parallelWorkload, parallelExpected},
}

func since(start time.Time) float64 { return time.Since(start).Seconds() }

// skynet: a 10-ary tree of goroutines with n leaves (n a power of 10); each leaf sends its number
// to its parent over the parent's unbuffered channel, each inner node sums its ten children.
func skynet(out chan<- int64, num, size int64) {
	if size == 1 {
		out <- num
		return
	}
	children := make(chan int64)
	step := size / 10
	for i := int64(0); i < 10; i++ {
		go skynet(children, num+i*step, step)
	}
	var sum int64
	for i := 0; i < 10; i++ {
		sum += <-children
	}
	out <- sum
}

func skynetWorkload(n int64) (float64, int64) {
	start := time.Now()
	result := make(chan int64)
	go skynet(result, 0, n)
	sum := <-result
	return since(start), sum
}

// spawn: n goroutines, each adds its number to a shared sum and signals a WaitGroup.
func spawnWorkload(n int64) (float64, int64) {
	start := time.Now()
	var sum atomic.Int64
	var wg sync.WaitGroup
	wg.Add(int(n))
	for i := int64(0); i < n; i++ {
		go func(i int64) {
			sum.Add(i)
			wg.Done()
		}(i)
	}
	wg.Wait()
	return since(start), sum.Load()
}

// pingpong: n round trips; the main goroutine sends i on ping, the echo goroutine sends it back
// on pong. Both channels unbuffered.
func pingpongWorkload(n int64) (float64, int64) {
	start := time.Now()
	ping := make(chan int64)
	pong := make(chan int64)
	go func() {
		for v := range ping {
			pong <- v
		}
	}()
	var sum int64
	for i := int64(0); i < n; i++ {
		ping <- i
		sum += <-pong
	}
	close(ping)
	return since(start), sum
}

// spsc: one producer sends 0..n-1 on a channel of capacity 1024 and closes it; one consumer sums.
func spscWorkload(n int64) (float64, int64) {
	start := time.Now()
	ch := make(chan int64, 1024)
	go func() {
		for i := int64(0); i < n; i++ {
			ch <- i
		}
		close(ch)
	}()
	var sum int64
	for v := range ch {
		sum += v
	}
	return since(start), sum
}

// mpmc: 4 producers send n values in all (0..n-1, a contiguous share each) on a channel of
// capacity 128; 4 consumers sum what they receive until the channel is closed.
func mpmcWorkload(n int64) (float64, int64) {
	const producers, consumers = 4, 4
	start := time.Now()
	ch := make(chan int64, 128)
	var sent sync.WaitGroup
	sent.Add(producers)
	for p := int64(0); p < producers; p++ {
		go func(first, last int64) {
			for i := first; i < last; i++ {
				ch <- i
			}
			sent.Done()
		}(n*p/producers, n*(p+1)/producers)
	}
	go func() {
		sent.Wait()
		close(ch)
	}()
	sums := make(chan int64, consumers)
	for c := 0; c < consumers; c++ {
		go func() {
			var sum int64
			for v := range ch {
				sum += v
			}
			sums <- sum
		}()
	}
	var sum int64
	for c := 0; c < consumers; c++ {
		sum += <-sums
	}
	return since(start), sum
}

// select: two producers send n values in all (half each) on their own unbuffered channel; one
// consumer receives all n with a two-way select.
func selectWorkload(n int64) (float64, int64) {
	start := time.Now()
	a := make(chan int64)
	b := make(chan int64)
	produce := func(ch chan<- int64, first, last int64) {
		for i := first; i < last; i++ {
			ch <- i
		}
	}
	go produce(a, 0, n/2)
	go produce(b, n/2, n)
	var sum int64
	for i := int64(0); i < n; i++ {
		select {
		case v := <-a:
			sum += v
		case v := <-b:
			sum += v
		}
	}
	return since(start), sum
}

// mutex: 8 goroutines each increment a shared counter n/8 times under a sync.Mutex.
func mutexWorkload(n int64) (float64, int64) {
	const goroutines = 8
	start := time.Now()
	var mu sync.Mutex
	var counter int64
	var wg sync.WaitGroup
	wg.Add(goroutines)
	for g := int64(0); g < goroutines; g++ {
		go func(count int64) {
			for i := int64(0); i < count; i++ {
				mu.Lock()
				counter++
				mu.Unlock()
			}
			wg.Done()
		}(n*(g+1)/goroutines - n*g/goroutines)
	}
	wg.Wait()
	return since(start), counter
}

// residentKiB reads VmRSS from /proc/self/status.
func residentKiB() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		fail("idle_memory: %v", err)
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) >= 2 && fields[0] == "VmRSS:" {
			kib, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				fail("idle_memory: bad VmRSS line %q", scanner.Text())
			}
			return kib
		}
	}
	fail("idle_memory: no VmRSS in /proc/self/status")
	return 0
}

// idle_memory: n goroutines park on a receive from one channel; the resident memory they add,
// divided by n, is the value. Closing the channel releases them.
func idleMemoryWorkload(n int64) (float64, int64) {
	release := make(chan struct{})
	var started, finished sync.WaitGroup
	var exited atomic.Int64
	started.Add(int(n))
	finished.Add(int(n))
	runtime.GC()
	before := residentKiB()
	for i := int64(0); i < n; i++ {
		go func() {
			started.Done()
			<-release
			exited.Add(1)
			finished.Done()
		}()
	}
	started.Wait()
	time.Sleep(50 * time.Millisecond) // let the last ones reach the receive and park
	after := residentKiB()
	close(release)
	finished.Wait()
	return float64(after-before) / float64(n), exited.Load()
}

// timers: n goroutines each sleep 10 ms; the time until all have finished is the value.
func timersWorkload(n int64) (float64, int64) {
	start := time.Now()
	var woken atomic.Int64
	var wg sync.WaitGroup
	wg.Add(int(n))
	for i := int64(0); i < n; i++ {
		go func() {
			time.Sleep(10 * time.Millisecond)
			woken.Add(1)
			wg.Done()
		}()
	}
	wg.Wait()
	return since(start), woken.Load()
}

// yield: 2 goroutines per worker share n calls of runtime.Gosched evenly.
func yieldWorkload(n int64) (float64, int64) {
	goroutines := int64(2 * runtime.GOMAXPROCS(0))
	start := time.Now()
	var yields atomic.Int64
	var wg sync.WaitGroup
	wg.Add(int(goroutines))
	for g := int64(0); g < goroutines; g++ {
		go func(count int64) {
			for i := int64(0); i < count; i++ {
				runtime.Gosched()
			}
			yields.Add(count)
			wg.Done()
		}(n*(g+1)/goroutines - n*g/goroutines)
	}
	wg.Wait()
	return since(start), yields.Load()
}

// ctx_cancel: n goroutines wait on ctx.Done() of one cancellable context; the value is the time
// from cancel() until every one of them has woken and finished.
func ctxCancelWorkload(n int64) (float64, int64) {
	ctx, cancel := context.WithCancel(context.Background())
	var started, finished sync.WaitGroup
	var woken atomic.Int64
	started.Add(int(n))
	finished.Add(int(n))
	for i := int64(0); i < n; i++ {
		go func() {
			started.Done()
			<-ctx.Done()
			woken.Add(1)
			finished.Done()
		}()
	}
	started.Wait()
	time.Sleep(20 * time.Millisecond) // let the last ones park on Done()
	start := time.Now()
	cancel()
	finished.Wait()
	return since(start), woken.Load()
}

// parallelSteps and mixChain are benchmarks/compare/common.hpp's parallel_steps and mix_chain:
// steps rounds of splitmix64's step, each round's input the previous round's output, a chain of
// dependent multiplies that no compiler can vectorise or shorten.
const parallelSteps = 1 << 17

func mixChain(seed uint64, steps int64) uint64 {
	x := seed
	for i := int64(0); i < steps; i++ {
		x += 0x9e3779b97f4a7c15
		x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
		x = (x ^ (x >> 27)) * 0x94d049bb133111eb
		x ^= x >> 31
	}
	return x
}

// parallelExpected is the parallel workload's check, computed on one goroutine (wrapping sum).
func parallelExpected(n int64) int64 {
	var sum uint64
	for i := int64(0); i < n; i++ {
		sum += mixChain(uint64(i), parallelSteps)
	}
	return int64(sum)
}

// parallel: n goroutines, each computes mixChain (processor work and nothing else) and sends its
// result on a channel of capacity n; main receives and sums them.
func parallelWorkload(n int64) (float64, int64) {
	start := time.Now()
	results := make(chan uint64, n)
	for i := int64(0); i < n; i++ {
		go func(i int64) {
			results <- mixChain(uint64(i), parallelSteps)
		}(i)
	}
	var sum uint64
	for i := int64(0); i < n; i++ {
		sum += <-results
	}
	return since(start), int64(sum)
}

func powerOfTen(n int64) bool {
	for n > 1 && n%10 == 0 {
		n /= 10
	}
	return n == 1
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "peers_go: "+format+"\n", args...)
	os.Exit(1)
}

func workloadNames() string {
	names := make([]string, 0, len(workloads))
	for name := range workloads {
		names = append(names, name)
	}
	sort.Strings(names)
	return strings.Join(names, " ")
}

func main() {
	name := flag.String("workload", "", "workload to run: "+workloadNames())
	n := flag.Int64("n", 0, "workload size (0: the workload's default)")
	workers := flag.Int("workers", 0, "GOMAXPROCS (0: leave as the environment sets it)")
	list := flag.Bool("list", false, "print the workloads this program implements and exit")
	flag.Parse()
	if *list {
		fmt.Println(workloadNames())
		return
	}
	w, ok := workloads[*name]
	if !ok {
		fail("unknown workload %q; one of: %s", *name, workloadNames())
	}
	if *workers > 0 {
		runtime.GOMAXPROCS(*workers)
	}
	if *n <= 0 {
		*n = w.defaultN
	}
	if *name == "skynet" && !powerOfTen(*n) {
		fail("skynet: -n must be a power of 10, not %d", *n)
	}
	value, check := w.run(*n)
	if want := w.expected(*n); check != want {
		fail("%s: wrong result: check=%d, expected %d", *name, check, want)
	}
	fmt.Printf("RESULT system=go workload=%s workers=%d n=%d value=%.6f unit=%s check=%d\n",
		*name, runtime.GOMAXPROCS(0), *n, value, w.unit, check)
}
