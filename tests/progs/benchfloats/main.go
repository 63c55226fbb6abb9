// Command benchfloats is the target of scripts/bench_floats.py: it calls one
// probed function in a tight loop and prints the time per call, so the cost of a
// captured hit with floats in vector registers can be set against one without.
//
// Usage: benchfloats floats|ints N
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

//go:noinline
func floats(a, b, c float64) float64 {
	return a*b + c
}

//go:noinline
func ints(a, b, c int) int {
	return a*b + c
}

func main() {
	n, _ := strconv.Atoi(os.Args[2])
	start := time.Now()
	var f float64
	var i int
	for k := 0; k < n; k++ {
		if os.Args[1] == "floats" {
			f += floats(float64(k), 0.5, 1.25)
		} else {
			i += ints(k, 2, 3)
		}
	}
	ns := float64(time.Since(start).Nanoseconds()) / float64(n)
	fmt.Printf("%.1f ns/call (%v %v)\n", ns, f, i)
}
