// Command first is one of two different programs that the tests build with the same
// GNU build id (go build -ldflags=-B=0x...): godi must tell them apart by their
// bytes. It prints each call of compute, which the tests probe.
package main

import "fmt"

//go:noinline
func compute(x int, s string) int {
	return x*2 + len(s)
}

func main() {
	for i := 0; i < 5; i++ {
		fmt.Printf("compute(%d, %q) = %d\n", i, "abc", compute(i, "abc"))
	}
}
