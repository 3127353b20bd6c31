// The loops of benchmarks/net_bench.cpp, in Go with package net, for the comparison in
// docs/benchmarks.md: a 64-byte ping-pong between two goroutines over loopback, in TCP, a
// Unix-domain stream and UDP (a dialled conn against a PacketConn answering with ReadFrom and
// WriteTo), with GOMAXPROCS 1 and 2.
//
//	cd benchmarks/peers/go-net && go build -o /tmp/go-net . && /tmp/go-net
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"time"
)

const messageSize = 64
const trips = 200000

// pingPong: write a message, read the answer whole; ns per round trip.
func pingPong(c net.Conn) float64 {
	out := make([]byte, messageSize)
	in := make([]byte, messageSize)
	start := time.Now()
	for i := 0; i < trips; i++ {
		if _, err := c.Write(out); err != nil {
			panic(err)
		}
		if _, err := io.ReadFull(c, in); err != nil {
			panic(err)
		}
	}
	return float64(time.Since(start).Nanoseconds()) / trips
}

func streamRoundTrip(network, address string) float64 {
	ln, err := net.Listen(network, address)
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	go func() {
		s, err := ln.Accept()
		if err != nil {
			panic(err)
		}
		io.Copy(s, s)
		s.Close()
	}()
	c, err := net.Dial(network, ln.Addr().String())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	return pingPong(c)
}

func udpRoundTrip() float64 {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go func() {
		buf := make([]byte, messageSize)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:n], from)
		}
	}()
	defer pc.Close()
	c, err := net.Dial("udp", pc.LocalAddr().String())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	return pingPong(c)
}

func main() {
	for _, procs := range []int{1, 2} {
		runtime.GOMAXPROCS(procs)
		fmt.Printf("tcp_round_trip/%d: %.0f ns per round trip\n", procs,
			streamRoundTrip("tcp", "127.0.0.1:0"))
		fmt.Printf("unix_round_trip/%d: %.0f ns per round trip\n", procs,
			streamRoundTrip("unix", fmt.Sprintf("@goro-go-net-%d", os.Getpid())))
		fmt.Printf("udp_round_trip/%d: %.0f ns per round trip\n", procs, udpRoundTrip())
	}
}
