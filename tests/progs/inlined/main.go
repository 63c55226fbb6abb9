// Command inlined calls scale, a function the compiler inlines, from twelve places
// in eleven functions, most of them with constant arguments of several shapes.
// Each copy prints one JSON line: its arguments and local as it computed them, and
// the frames runtime.Callers sees from inside it (scale first, then its caller).
// divide has named results, printed by main.
package main

import (
	"encoding/json"
	"errors"
	"os"
	"runtime"
)

type frame struct {
	Function string `json:"function"`
	Line     int    `json:"line"`
}

type record struct {
	Site   string  `json:"site"`
	X      int     `json:"x"`
	Factor int     `json:"factor"`
	Y      int     `json:"y"`
	Frames []frame `json:"frames"`
}

var out = json.NewEncoder(os.Stdout)

//go:noinline
func report(site string, x, factor, y int) {
	pcs := make([]uintptr, 32)
	n := runtime.Callers(2, pcs) // from the caller of report: the copy of scale
	rec := record{Site: site, X: x, Factor: factor, Y: y}
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		rec.Frames = append(rec.Frames, frame{f.Function, f.Line})
		if !more || f.Function == "main.main" {
			break
		}
	}
	if err := out.Encode(rec); err != nil {
		panic(err)
	}
}

// scale is small enough to be inlined wherever it is called.
func scale(site string, x, factor int) int {
	y := x * factor
	report(site, x, factor, y) // the line probe's line
	return y + 1
}

//go:noinline
func one(n int) int { return scale("one", n, 2) }

//go:noinline
func two(n int) int {
	a := scale("two", n, 3)
	return a + scale("two-b", n+1, 4)
}

//go:noinline
func three(a, b int) int { return scale("three", a, b) }

//go:noinline
func four() int { return scale("four", 7, 5) }

// Constant arguments of other shapes: a power of two (a shift by another
// constant), a negative one, a named constant, zero (the product folds away), one
// wider than 32 bits, and a constant x with a variable factor.
const named = 6

//go:noinline
func shifted(n int) int { return scale("shifted", n, 8) }

//go:noinline
func negative(n int) int { return scale("negative", n, -3) }

//go:noinline
func namedConst(n int) int { return scale("named", n, named) }

//go:noinline
func zero(n int) int { return scale("zero", n, 0) }

//go:noinline
func wide(n int) int { return scale("wide", n, 1<<33+1) }

//go:noinline
func constX(n int) int { return scale("constX", 12, n) }

var errZero = errors.New("division by zero")

//go:noinline
func divide(a, b int) (quotient, remainder int, err error) {
	if b == 0 {
		err = errZero
		return
	}
	quotient, remainder = a/b, a%b
	return
}

func main() {
	total := one(5) + two(6) + three(8, 9) + four()
	total += scale("main", 10, 11)
	total += shifted(3) + negative(4) + namedConst(5) + zero(6) + wide(7) + constX(13)
	q, r, err := divide(17, 5)
	_ = out.Encode(map[string]any{"divide": []any{17, 5, q, r, err == nil}})
	q, r, err = divide(total, 0)
	_ = out.Encode(map[string]any{"divide": []any{total, 0, q, r, err.Error()}})
}
