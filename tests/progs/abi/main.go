// The register-ABI cases of issue 16, each called once; main prints what it
// passed and got back (the test's expectations come from this output).
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	lib "abi/lib.v2"
)

type Elem struct {
	A int32
	B string
}

// A string after nine integer and three float registers' worth of arguments:
// passed on the stack.
//
//go:noinline
func stackString(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12 int, f1, f2, f3 float64, s string) int {
	return a1 + len(s)
}

// A []Elem after three slices and a [4]uint32 (which goes to the stack): the
// slice is on the stack too once the integer registers run out.
//
//go:noinline
func stackSlice(x, y, z []int, arr [4]uint32, elems []Elem) int {
	return len(x) + len(elems)
}

// A bool on the stack that the body never reads: the ABI fixes its slot even
// when DWARF gives it no location.
//
//go:noinline
func unusedStackBool(a1, a2, a3, a4, a5, a6, a7, a8, a9 int, flag bool) int {
	return a1
}

// Unnamed results with a defer: DWARF lists ~r0, ~r0, ~r1, ~r1, ~r2, ~r2.
//
//go:noinline
func deferred(n int) (int, string, error) {
	defer func() { sink++ }()
	return n * 2, "done", nil
}

// A zero-size dynamic value in an interface, and a [0]int argument.
//
//go:noinline
func zeroSize(w io.Writer, empty [0]int, n int) int {
	return n
}

// A body that is a bare RET: the result is the argument, in RAX.
//
//go:noinline
func identity(x int) int { return x }

// A package whose import path has a dot.
//
//go:noinline
func escaped(v lib.V2Type) int { return lib.Use(v) }

// Maps and slices of interfaces inside an interface, deeper than the probe's
// maxReferenceDepth: every value cut says "depth", none "unavailable".
//
//go:noinline
func nested(v any) int { return 0 }

type Number string

// More strings than one capture type entry follows (GODI_MAX_SLOTS, 128): Wide's
// 135 are flattened into the root's slots, which continue in a second entry; the
// [3]Cell (39 strings) is scanned in place as an array.
type Wide struct{ A, B, C, D, E, F, G, H, I [15]string }

type Cell struct {
	Key string
	Val [12]string
}

// A zero-size argument on the stack aligns what follows: b is at 8 of the stack
// arguments, after h (0..2) and z (aligned to 8, no bytes).
//
//go:noinline
func zeroSizeGap(a1, a2, a3, a4, a5, a6, a7, a8, a9 int, h int16, z [0]float64, b uint8) int {
	return a1 + int(h) + int(b)
}

// 40 maps with string keys: each bucket or group has its keys checked against the
// redacted identifiers (key guards) before it is followed, which once took a
// walker round of its own (33 in an event); now one walker step.
//
//go:noinline
func manyMaps(ms [40]map[string]int) int {
	return len(ms[39])
}

// 4,608 bytes on the stack: over the 4 KiB the capture root had.
type Small struct {
	A bool
	S string
	N int
}

//go:noinline
func bigStack(grid [12][12]Small, n int) int {
	return len(grid[11][11].S) + n
}

//go:noinline
func manyStrings(w Wide, grid [3]Cell, last string) int {
	return len(w.A[0]) + len(grid[2].Val[11]) + len(last)
}

// A value several times what one event's walk could follow before the walker ran
// in a bpf_loop (1,320 steps, 256 queued references, 32 KiB): 80 records of
// seven strings and a map of string entries each, about 4,100 steps (1,282
// blocks copied, 2,800 references followed), 640 references queued at once and
// 75 KiB. Every tenth map has a "password" entry, redacted.
type Rec struct {
	ID    int
	Name  string
	Tags  [6]string
	Attrs map[string]string
}

//go:noinline
func bigGraph(recs []*Rec) int {
	return len(recs)
}

var sink int

func main() {
	s := "passed on the stack"
	fmt.Println("stackString.s=" + s)
	stackString(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 1.5, 2.5, 3.5, s)

	elems := []Elem{{7, "seven"}, {8, "eight"}}
	out, _ := json.Marshal(elems)
	fmt.Println("stackSlice.elems=" + string(out))
	stackSlice([]int{1}, []int{2, 3}, []int{4}, [4]uint32{1, 2, 3, 4}, elems)

	fmt.Println("unusedStackBool.flag=true")
	unusedStackBool(1, 2, 3, 4, 5, 6, 7, 8, 9, true)

	r0, r1, r2 := deferred(21)
	fmt.Printf("deferred=%d,%s,%v\n", r0, r1, r2)

	fmt.Println("zeroSize.n=3")
	zeroSize(io.Discard, [0]int{}, 3)

	for _, x := range []int{5, -6} {
		fmt.Printf("identity=%d\n", identity(x))
	}

	fmt.Printf("escaped=%T\n", lib.V2Type{})
	escaped(lib.V2Type{N: 4})
	nested(map[string]any{"list": []any{Number("1"), "two"}, "map": map[string]any{"x": Number("3")}})

	var w Wide
	for i, a := range []*[15]string{&w.A, &w.B, &w.C, &w.D, &w.E, &w.F, &w.G, &w.H, &w.I} {
		for j := range a {
			a[j] = fmt.Sprintf("w%d.%d", i, j)
		}
	}
	var grid [3]Cell
	for i := range grid {
		grid[i].Key = fmt.Sprintf("k%d", i)
		for j := range grid[i].Val {
			grid[i].Val[j] = fmt.Sprintf("g%d.%d", i, j)
		}
	}
	out, _ = json.Marshal(map[string]any{"w": w, "grid": grid, "last": "the last one"})
	fmt.Println("manyStrings=" + string(out))
	manyStrings(w, grid, "the last one")

	fmt.Println("zeroSizeGap=-32768,139")
	zeroSizeGap(1, 2, 3, 4, 5, 6, 7, 8, 9, -32768, [0]float64{}, 139)

	var ms [40]map[string]int
	for i := range ms {
		ms[i] = map[string]int{fmt.Sprintf("key%d", i): i}
	}
	out, _ = json.Marshal(ms)
	fmt.Println("manyMaps=" + string(out))
	manyMaps(ms)

	var big [12][12]Small
	for i := range big {
		for j := range big[i] {
			big[i][j] = Small{A: (i+j)%2 == 0, S: fmt.Sprintf("s%d.%d", i, j), N: i*12 + j}
		}
	}
	out, _ = json.Marshal(big)
	fmt.Println("bigStack=" + string(out))
	bigStack(big, 7)

	recs := make([]*Rec, 80)
	for i := range recs {
		r := &Rec{ID: i, Name: fmt.Sprintf("rec-%d", i), Attrs: map[string]string{}}
		for j := range r.Tags {
			r.Tags[j] = fmt.Sprintf("tag-%d-%d", i, j)
		}
		for j := 0; j < 3; j++ {
			r.Attrs[fmt.Sprintf("a%d", j)] = fmt.Sprintf("v%d.%d", i, j)
		}
		if i%10 == 0 {
			r.Attrs["password"] = fmt.Sprintf("hunter-%d", i)
		}
		recs[i] = r
	}
	out, _ = json.Marshal(recs)
	fmt.Println("bigGraph=" + string(out))
	bigGraph(recs)
	os.Stdout.Sync()
}
