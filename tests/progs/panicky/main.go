// panicky calls work, whose calls panic for a while: for the first PANIC_MS
// milliseconds, short-lived goroutines call it once each, it panics and their
// caller recovers (the call never returns: its frame is unwound); then GOROUTINES
// goroutines call it as fast as they can, and every call returns 3*i+3. It prints
// how many calls returned, how many panicked and how many results were wrong.
// With "same", the main goroutine makes the calls that panic, then calls on from
// the same place (its calls that return are at the same depth of the same
// goroutine as those that did not).
//
// Usage: panicky SECONDS PANIC_MS GOROUTINES [same]
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

var panicking atomic.Bool

//go:noinline
func work(i int) int {
	if panicking.Load() {
		panic("work: panicking")
	}
	return i*3 + 3
}

func once(i int) (v int, panicked bool) {
	defer func() {
		if recover() != nil {
			panicked = true
		}
	}()
	return work(i), false
}

func main() {
	seconds, _ := strconv.ParseFloat(os.Args[1], 64)
	panicMS, _ := strconv.Atoi(os.Args[2])
	goroutines, _ := strconv.Atoi(os.Args[3])
	same := len(os.Args) > 4 && os.Args[4] == "same"
	start := time.Now()
	panicking.Store(true)
	panics := 0
	for i := 0; time.Since(start) < time.Duration(panicMS)*time.Millisecond; i++ {
		if same {
			if _, p := once(i); p {
				panics++
			}
			continue
		}
		done := make(chan bool)
		go func() {
			_, p := once(i)
			done <- p
		}()
		if <-done {
			panics++
		}
	}
	panicking.Store(false)
	var calls, wrong atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			n := int64(0)
			for i := g; !stop.Load(); i++ {
				if work(i) != i*3+3 {
					wrong.Add(1)
				}
				n++
			}
			calls.Add(n)
		}(g)
	}
	end := start.Add(time.Duration(seconds * float64(time.Second)))
	if same {
		n := int64(0)
		for i := 0; time.Now().Before(end); i++ {
			if v, p := once(i); p || v != i*3+3 {
				wrong.Add(1)
			}
			n++
		}
		calls.Add(n)
	}
	time.Sleep(time.Until(end))
	stop.Store(true)
	wg.Wait()
	fmt.Printf("calls=%d\npanics=%d\nwrong=%d\n", calls.Load(), panics, wrong.Load())
}
