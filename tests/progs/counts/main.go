// counts calls a few functions a number of times given on the command line and
// prints how many times it called each, so that a test can compare godi's
// per-probe counts with what the program did.
package main

import (
	"fmt"
	"os"
	"strconv"
)

var calls = map[string]int{}

//go:noinline
func tick(i int, label string) int {
	calls["tick"]++
	return i*2 + len(label)
}

//go:noinline
func tock(xs []int) (sum int, err error) {
	calls["tock"]++
	for _, x := range xs {
		sum += x
	}
	if sum < 0 {
		return 0, fmt.Errorf("negative")
	}
	return sum, nil
}

//go:noinline
func rare(v int) bool {
	calls["rare"]++
	return v%2 == 0
}

func main() {
	n := 25
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	total := 0
	for i := 0; i < n; i++ {
		total += tick(i, "t")
		if i%3 == 0 {
			s, _ := tock([]int{i, i + 1, i + 2})
			total += s
		}
		if i%5 == 0 && rare(i) {
			total++
		}
	}
	fmt.Printf("total=%d\n", total)
	for _, name := range []string{"tick", "tock", "rare"} {
		fmt.Printf("calls %s=%d\n", name, calls[name])
	}
}
