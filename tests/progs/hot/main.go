// hot calls one small function from many goroutines as fast as it can, for a
// number of seconds, checking every result, and prints how many calls it made and
// how many results were wrong (0 unless something corrupted the calls).
//
// Usage: hot SECONDS GOROUTINES [SPIN]; with SECONDS "-", until its standard input
// ends. SPIN: iterations of busy work between two calls (0), to slow the calls
// down to a chosen rate (scripts/bench_disarm.py); with SPIN, it prints the CPU
// time it used too.
package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

//go:noinline
func work(i int, tag string) (int, string) {
	return i*3 + len(tag), tag
}

func main() {
	seconds, _ := strconv.ParseFloat(os.Args[1], 64)
	goroutines, _ := strconv.Atoi(os.Args[2])
	spin := 0
	if len(os.Args) > 3 {
		spin, _ = strconv.Atoi(os.Args[3])
	}
	var calls, wrong, sink atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			n, acc := int64(0), 0
			for i := g; !stop.Load(); i++ {
				for k := 0; k < spin; k++ {
					acc += k ^ i
				}
				v, t := work(i, "hot")
				if v != i*3+3 || t != "hot" {
					wrong.Add(1)
				}
				n++
			}
			calls.Add(n)
			sink.Add(int64(acc))
		}(g)
	}
	if os.Args[1] == "-" {
		bufio.NewReader(os.Stdin).ReadString('\n')
	} else {
		time.Sleep(time.Duration(seconds * float64(time.Second)))
	}
	stop.Store(true)
	wg.Wait()
	fmt.Printf("calls=%d\nwrong=%d\n", calls.Load(), wrong.Load())
	if spin > 0 {
		// The CPU time the process used (user and system, every thread): what
		// the calls cost it, whatever else the machine runs.
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		cpu := ru.Utime.Nano() + ru.Stime.Nano()
		fmt.Printf("sink=%d\ncpu_ns=%d\n", sink.Load(), cpu)
	}
}
