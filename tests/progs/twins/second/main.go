// Command second has a compute of the same name as first's, at other addresses and
// with other code, and is built with first's build id. It prints each call of
// compute, which the tests probe.
package main

import (
	"fmt"
	"strings"
)

//go:noinline
func decorate(s string) string {
	return strings.Repeat(s, 3) + strings.ToUpper(s)
}

//go:noinline
func compute(x int, s string) int {
	if x > 100 {
		return len(decorate(s)) * x
	}
	v := 0
	for i := 0; i < x; i++ {
		v += i * len(s)
	}
	return x*2 + len(s) + v
}

func main() {
	for i := 0; i < 5; i++ {
		s := decorate(fmt.Sprint("s", i))
		fmt.Printf("compute(%d, %q) = %d\n", i, s, compute(i, s))
	}
}
