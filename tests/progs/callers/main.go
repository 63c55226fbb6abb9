// Command callers prints the stacks runtime.Callers sees at a few call sites, with
// what runtime.CallersFrames makes of them: the reference for godi's symbolication
// of .gopclntab (tests/irgen/test_pclntab.py). One JSON object per line:
// {"site": name, "pcs": [return PCs], "frames": [{"function", "file", "line"}]}.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"sync"
)

type frame struct {
	Function string `json:"function"`
	File     string `json:"file"`
	Line     int    `json:"line"`
}

type record struct {
	Site   string    `json:"site"`
	PCs    []uintptr `json:"pcs"`
	Frames []frame   `json:"frames"`
}

var out = json.NewEncoder(os.Stdout)

//go:noinline
func capture(site string) {
	pcs := make([]uintptr, 64)
	n := runtime.Callers(0, pcs)
	pcs = pcs[:n]
	rec := record{Site: site, PCs: pcs}
	frames := runtime.CallersFrames(pcs)
	for {
		f, more := frames.Next()
		rec.Frames = append(rec.Frames, frame{f.Function, f.File, f.Line})
		if !more {
			break
		}
	}
	if err := out.Encode(rec); err != nil {
		panic(err)
	}
}

//go:noinline
func plain2() { capture("plain") }

//go:noinline
func plain1() { plain2() }

// inner and middle are small enough to be inlined into outer.
func inner(x int) int {
	if x > 0 {
		capture("inlined")
	}
	return x + 1
}

func middle(x int) int { return inner(x) * 2 }

//go:noinline
func outer(x int) int { return middle(x) + middle(-x) }

//go:noinline
func generic[T any](v T) T {
	capture(fmt.Sprintf("generic %T", v))
	return v
}

type shape interface{ Area() int }

type square struct{ side int }

// Area has a value receiver: calling it through a *square in an interface goes
// through the compiler-generated (*square).Area wrapper.
//
//go:noinline
func (s square) Area() int {
	capture("wrapper")
	return s.side * s.side
}

//go:noinline
func viaInterface(s shape) int { return s.Area() }

//go:noinline
func closure(n int) int {
	f := func() int {
		capture("closure")
		return n
	}
	return f()
}

//go:noinline
func recovered() (err error) {
	defer func() {
		if r := recover(); r != nil {
			capture("recovered")
			err = fmt.Errorf("%v", r)
		}
	}()
	var m map[string]int
	m["x"] = 1 // panics: assignment to entry in nil map
	return nil
}

func main() {
	plain1()
	outer(3)
	generic(42)
	generic("s")
	viaInterface(&square{side: 2})
	closure(5)
	_ = recovered()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		plain1()
	}()
	wg.Wait()
	_ = kindOf(&token{id: 7})
}

// token is named by no function but main: only its descriptor says what kindOf's
// argument holds.
type token struct{ id int }

//go:noinline
func kindOf(v any) string {
	_, ok := v.(fmt.Stringer)
	if ok {
		return "stringer"
	}
	return "other"
}
