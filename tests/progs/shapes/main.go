// Command shapes passes shapes of values whose rendering follows Datadog's own:
// a pointer to a map, blank struct fields, a pointer past the reference depth, a
// zero-length array, several results. It prints what it passed, for reference.
package main

import "fmt"

type blanks struct {
	A int
	_ int
	B string
	_ [2]byte
}

type node struct {
	V    int
	Next *node
}

//go:noinline
func shapes(pm *map[string]int, b blanks, deep *node, empty [0]int) (count int, label string, err error) {
	return len(*pm) + len(empty), b.B, nil
}

func main() {
	m := map[string]int{"one": 1, "two": 2}
	deep := &node{V: 1, Next: &node{V: 2, Next: &node{V: 3}}}
	count, label, err := shapes(&m, blanks{A: 7, B: "bee"}, deep, [0]int{})
	fmt.Println(count, label, err)
}
