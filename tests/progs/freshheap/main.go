// freshheap: values in heap pages the program never touched. A large allocation
// comes straight from the OS (already zero, so Go does not clear it): its pages
// are mapped but not present until written, and a BPF read of them fails. The
// probed functions get such values before anything reads them; the program then
// prints what it has (JSON, one line per call), for the test to compare with.
package main

import (
	"encoding/json"
	"fmt"
	"os"
)

type Quad struct {
	A, B, C, D uint64
}

//go:noinline
func inspectSlice(s []uint64) int { return len(s) }

//go:noinline
func inspectQuad(q *Quad) int { return int(q.A) }

type record struct {
	Func  string   `json:"func"`
	Slice []string `json:"slice,omitempty"`
	Quad  []string `json:"quad,omitempty"`
}

func u(v uint64) string { return fmt.Sprint(v) }

func main() {
	enc := json.NewEncoder(os.Stdout)
	// 1 MiB, written only in its first elements: the rest stays untouched.
	big := make([]uint64, 1<<17)
	for i := 0; i < 16; i++ {
		big[i] = uint64(i*i + 1)
	}
	// A slice starting in the written page and running into untouched ones.
	s := big[8 : 8+1000]
	inspectSlice(s)
	rec := record{Func: "inspectSlice"}
	for _, v := range s {
		rec.Slice = append(rec.Slice, u(v))
	}
	enc.Encode(rec)

	// A value wholly in a page nothing wrote: a Quad far into another fresh allocation.
	quads := make([]Quad, 1<<15)
	q := &quads[3000]
	inspectQuad(q)
	enc.Encode(record{Func: "inspectQuad", Quad: []string{u(q.A), u(q.B), u(q.C), u(q.D)}})
}
