// Command robust exercises what can go wrong under instrumentation: stack growth
// during deep recursion, panics that skip a return, many goroutines at once,
// cyclic and deep pointer graphs, huge strings and slices, nil everywhere, and a
// long-running loop to attach to by PID.
//
// Usage: robust [mode]   mode is "all" (default) or "loop N" (call tick N times,
// one per 10ms, then exit; N=0 loops forever).
package main

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Ring is a node of a cyclic list.
type Ring struct {
	ID   int
	Next *Ring
}

// Deep nests pointers deeper than any sensible maxReferenceDepth.
type Deep struct {
	Level int
	Child *Deep
}

// Holder has nil members of every nillable kind.
type Holder struct {
	P     *int
	S     []string
	M     map[string]int
	F     func()
	I     interface{}
	C     chan int
	Label string
}

//go:noinline
func recurse(depth int, pad [64]int64) int {
	// The array makes each frame big, so the goroutine stack grows (and is copied
	// to a new place) many times during the recursion.
	if depth == 0 {
		return int(pad[0])
	}
	pad[0]++
	return recurse(depth-1, pad) + 1
}

//go:noinline
func mayPanic(n int) int {
	if n%2 == 1 {
		panic("odd " + strconv.Itoa(n))
	}
	return n * 10
}

func safeCall(n int) (r int) {
	defer func() {
		if recover() != nil {
			r = -1
		}
	}()
	return mayPanic(n)
}

//go:noinline
func work(worker int, goid int) int {
	return worker*1000 + goid
}

//go:noinline
func visitRing(r *Ring) int {
	return r.ID
}

//go:noinline
func visitDeep(d *Deep) int {
	return d.Level
}

//go:noinline
func bigValues(s string, xs []int) int {
	return len(s) + len(xs)
}

//go:noinline
func nils(h Holder, p *Holder, s []int, e error) bool {
	return p == nil && s == nil && e == nil && h.P == nil
}

//go:noinline
func tick(n int) int {
	return n + 1
}

func currentGoid() int {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	buf = bytes.TrimPrefix(buf, []byte("goroutine "))
	id, _ := strconv.Atoi(string(buf[:bytes.IndexByte(buf, ' ')]))
	return id
}

func runAll() {
	var pad [64]int64
	fmt.Println("recurse:", recurse(200, pad))

	for i := 0; i < 4; i++ {
		fmt.Println("safeCall:", i, safeCall(i))
	}

	var wg sync.WaitGroup
	results := make([]string, 100)
	start := make(chan struct{})
	for w := 0; w < 100; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			<-start
			g := currentGoid()
			work(w, g)
			results[w] = fmt.Sprintf("worker %d goid %d", w, g)
		}(w)
	}
	close(start)
	wg.Wait()
	// Goroutine ids go to stderr: stdout must not depend on scheduling.
	for _, r := range results {
		fmt.Fprintln(os.Stderr, r)
	}
	fmt.Println("workers:", len(results))

	a := &Ring{ID: 1}
	b := &Ring{ID: 2, Next: a}
	c := &Ring{ID: 3, Next: b}
	a.Next = c
	fmt.Println("ring:", visitRing(a))

	var d *Deep
	for i := 10; i > 0; i-- {
		d = &Deep{Level: i, Child: d}
	}
	fmt.Println("deep:", visitDeep(d))

	xs := make([]int, 10000)
	for i := range xs {
		xs[i] = i
	}
	fmt.Println("big:", bigValues(strings.Repeat("x", 100000), xs))

	fmt.Println("nils:", nils(Holder{}, nil, nil, nil))
}

func main() {
	if len(os.Args) > 2 && os.Args[1] == "loop" {
		n, _ := strconv.Atoi(os.Args[2])
		fmt.Println("pid", os.Getpid())
		for i := 0; n == 0 || i < n; i++ {
			tick(i)
			time.Sleep(10 * time.Millisecond)
		}
		fmt.Println("done")
		return
	}
	runAll()
}
