// Command bench is the target of scripts/bench_capture.py: it calls one probed
// function in a tight loop and reports the time per call, so the cost a probe
// adds can be measured against the same loop without it.
//
// Usage: bench scalars|graph|many N
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

// Leaf is the bottom of the graph: about 100 bytes with its strings.
type Leaf struct {
	Name  string
	Tags  [4]int64
	Score float64
}

// Mid holds leaves by pointer.
type Mid struct {
	Label string
	A, B  *Leaf
	Data  [8]int64
}

// Root is a depth-3 graph of about 1 KiB.
type Root struct {
	ID      int
	Left    *Mid
	Right   *Mid
	Comment string
}

//go:noinline
func scalars(a, b, c int) int {
	return a + b + c
}

//go:noinline
func graph(r *Root) int {
	return r.ID
}

//go:noinline
func f0(a, b int, s string) int { return a + b + len(s) + 0 }

//go:noinline
func f1(a, b int, s string) int { return a + b + len(s) + 1 }

//go:noinline
func f2(a, b int, s string) int { return a + b + len(s) + 2 }

//go:noinline
func f3(a, b int, s string) int { return a + b + len(s) + 3 }

//go:noinline
func f4(a, b int, s string) int { return a + b + len(s) + 4 }

//go:noinline
func f5(a, b int, s string) int { return a + b + len(s) + 5 }

//go:noinline
func f6(a, b int, s string) int { return a + b + len(s) + 6 }

//go:noinline
func f7(a, b int, s string) int { return a + b + len(s) + 7 }

//go:noinline
func f8(a, b int, s string) int { return a + b + len(s) + 8 }

//go:noinline
func f9(a, b int, s string) int { return a + b + len(s) + 9 }

//go:noinline
func f10(a, b int, s string) int { return a + b + len(s) + 10 }

//go:noinline
func f11(a, b int, s string) int { return a + b + len(s) + 11 }

//go:noinline
func f12(a, b int, s string) int { return a + b + len(s) + 12 }

//go:noinline
func f13(a, b int, s string) int { return a + b + len(s) + 13 }

//go:noinline
func f14(a, b int, s string) int { return a + b + len(s) + 14 }

//go:noinline
func f15(a, b int, s string) int { return a + b + len(s) + 15 }

//go:noinline
func f16(a, b int, s string) int { return a + b + len(s) + 16 }

//go:noinline
func f17(a, b int, s string) int { return a + b + len(s) + 17 }

//go:noinline
func f18(a, b int, s string) int { return a + b + len(s) + 18 }

//go:noinline
func f19(a, b int, s string) int { return a + b + len(s) + 19 }

//go:noinline
func f20(a, b int, s string) int { return a + b + len(s) + 20 }

//go:noinline
func f21(a, b int, s string) int { return a + b + len(s) + 21 }

//go:noinline
func f22(a, b int, s string) int { return a + b + len(s) + 22 }

//go:noinline
func f23(a, b int, s string) int { return a + b + len(s) + 23 }

//go:noinline
func f24(a, b int, s string) int { return a + b + len(s) + 24 }

//go:noinline
func f25(a, b int, s string) int { return a + b + len(s) + 25 }

//go:noinline
func f26(a, b int, s string) int { return a + b + len(s) + 26 }

//go:noinline
func f27(a, b int, s string) int { return a + b + len(s) + 27 }

//go:noinline
func f28(a, b int, s string) int { return a + b + len(s) + 28 }

//go:noinline
func f29(a, b int, s string) int { return a + b + len(s) + 29 }

//go:noinline
func f30(a, b int, s string) int { return a + b + len(s) + 30 }

//go:noinline
func f31(a, b int, s string) int { return a + b + len(s) + 31 }

//go:noinline
func f32(a, b int, s string) int { return a + b + len(s) + 32 }

//go:noinline
func f33(a, b int, s string) int { return a + b + len(s) + 33 }

//go:noinline
func f34(a, b int, s string) int { return a + b + len(s) + 34 }

//go:noinline
func f35(a, b int, s string) int { return a + b + len(s) + 35 }

//go:noinline
func f36(a, b int, s string) int { return a + b + len(s) + 36 }

//go:noinline
func f37(a, b int, s string) int { return a + b + len(s) + 37 }

//go:noinline
func f38(a, b int, s string) int { return a + b + len(s) + 38 }

//go:noinline
func f39(a, b int, s string) int { return a + b + len(s) + 39 }

//go:noinline
func f40(a, b int, s string) int { return a + b + len(s) + 40 }

//go:noinline
func f41(a, b int, s string) int { return a + b + len(s) + 41 }

//go:noinline
func f42(a, b int, s string) int { return a + b + len(s) + 42 }

//go:noinline
func f43(a, b int, s string) int { return a + b + len(s) + 43 }

//go:noinline
func f44(a, b int, s string) int { return a + b + len(s) + 44 }

//go:noinline
func f45(a, b int, s string) int { return a + b + len(s) + 45 }

//go:noinline
func f46(a, b int, s string) int { return a + b + len(s) + 46 }

//go:noinline
func f47(a, b int, s string) int { return a + b + len(s) + 47 }

//go:noinline
func f48(a, b int, s string) int { return a + b + len(s) + 48 }

//go:noinline
func f49(a, b int, s string) int { return a + b + len(s) + 49 }

//go:noinline
func f50(a, b int, s string) int { return a + b + len(s) + 50 }

//go:noinline
func f51(a, b int, s string) int { return a + b + len(s) + 51 }

//go:noinline
func f52(a, b int, s string) int { return a + b + len(s) + 52 }

//go:noinline
func f53(a, b int, s string) int { return a + b + len(s) + 53 }

//go:noinline
func f54(a, b int, s string) int { return a + b + len(s) + 54 }

//go:noinline
func f55(a, b int, s string) int { return a + b + len(s) + 55 }

//go:noinline
func f56(a, b int, s string) int { return a + b + len(s) + 56 }

//go:noinline
func f57(a, b int, s string) int { return a + b + len(s) + 57 }

//go:noinline
func f58(a, b int, s string) int { return a + b + len(s) + 58 }

//go:noinline
func f59(a, b int, s string) int { return a + b + len(s) + 59 }

//go:noinline
func f60(a, b int, s string) int { return a + b + len(s) + 60 }

//go:noinline
func f61(a, b int, s string) int { return a + b + len(s) + 61 }

//go:noinline
func f62(a, b int, s string) int { return a + b + len(s) + 62 }

//go:noinline
func f63(a, b int, s string) int { return a + b + len(s) + 63 }

//go:noinline
func f64(a, b int, s string) int { return a + b + len(s) + 64 }

//go:noinline
func f65(a, b int, s string) int { return a + b + len(s) + 65 }

//go:noinline
func f66(a, b int, s string) int { return a + b + len(s) + 66 }

//go:noinline
func f67(a, b int, s string) int { return a + b + len(s) + 67 }

//go:noinline
func f68(a, b int, s string) int { return a + b + len(s) + 68 }

//go:noinline
func f69(a, b int, s string) int { return a + b + len(s) + 69 }

//go:noinline
func f70(a, b int, s string) int { return a + b + len(s) + 70 }

//go:noinline
func f71(a, b int, s string) int { return a + b + len(s) + 71 }

//go:noinline
func f72(a, b int, s string) int { return a + b + len(s) + 72 }

//go:noinline
func f73(a, b int, s string) int { return a + b + len(s) + 73 }

//go:noinline
func f74(a, b int, s string) int { return a + b + len(s) + 74 }

//go:noinline
func f75(a, b int, s string) int { return a + b + len(s) + 75 }

//go:noinline
func f76(a, b int, s string) int { return a + b + len(s) + 76 }

//go:noinline
func f77(a, b int, s string) int { return a + b + len(s) + 77 }

//go:noinline
func f78(a, b int, s string) int { return a + b + len(s) + 78 }

//go:noinline
func f79(a, b int, s string) int { return a + b + len(s) + 79 }

//go:noinline
func f80(a, b int, s string) int { return a + b + len(s) + 80 }

//go:noinline
func f81(a, b int, s string) int { return a + b + len(s) + 81 }

//go:noinline
func f82(a, b int, s string) int { return a + b + len(s) + 82 }

//go:noinline
func f83(a, b int, s string) int { return a + b + len(s) + 83 }

//go:noinline
func f84(a, b int, s string) int { return a + b + len(s) + 84 }

//go:noinline
func f85(a, b int, s string) int { return a + b + len(s) + 85 }

//go:noinline
func f86(a, b int, s string) int { return a + b + len(s) + 86 }

//go:noinline
func f87(a, b int, s string) int { return a + b + len(s) + 87 }

//go:noinline
func f88(a, b int, s string) int { return a + b + len(s) + 88 }

//go:noinline
func f89(a, b int, s string) int { return a + b + len(s) + 89 }

//go:noinline
func f90(a, b int, s string) int { return a + b + len(s) + 90 }

//go:noinline
func f91(a, b int, s string) int { return a + b + len(s) + 91 }

//go:noinline
func f92(a, b int, s string) int { return a + b + len(s) + 92 }

//go:noinline
func f93(a, b int, s string) int { return a + b + len(s) + 93 }

//go:noinline
func f94(a, b int, s string) int { return a + b + len(s) + 94 }

//go:noinline
func f95(a, b int, s string) int { return a + b + len(s) + 95 }

//go:noinline
func f96(a, b int, s string) int { return a + b + len(s) + 96 }

//go:noinline
func f97(a, b int, s string) int { return a + b + len(s) + 97 }

//go:noinline
func f98(a, b int, s string) int { return a + b + len(s) + 98 }

//go:noinline
func f99(a, b int, s string) int { return a + b + len(s) + 99 }

var sink int

func leaf(n string) *Leaf {
	return &Leaf{Name: n + " leaf with a moderately long name", Tags: [4]int64{1, 2, 3, 4}, Score: 0.5}
}

func main() {
	n, _ := strconv.Atoi(os.Args[2])
	root := &Root{ID: 7, Comment: "the root of a small graph used to measure capture cost",
		Left:  &Mid{Label: "left mid", A: leaf("a"), B: leaf("b")},
		Right: &Mid{Label: "right mid", A: leaf("c"), B: leaf("d")}}
	start := time.Now()
	switch os.Args[1] {
	case "scalars":
		for i := 0; i < n; i++ {
			sink += scalars(i, 2, 3)
		}
	case "graph":
		for i := 0; i < n; i++ {
			sink += graph(root)
		}
	case "many":
		for i := 0; i < n; i++ {
		sink += f0(i, 2, "x")
		sink += f1(i, 2, "x")
		sink += f2(i, 2, "x")
		sink += f3(i, 2, "x")
		sink += f4(i, 2, "x")
		sink += f5(i, 2, "x")
		sink += f6(i, 2, "x")
		sink += f7(i, 2, "x")
		sink += f8(i, 2, "x")
		sink += f9(i, 2, "x")
		sink += f10(i, 2, "x")
		sink += f11(i, 2, "x")
		sink += f12(i, 2, "x")
		sink += f13(i, 2, "x")
		sink += f14(i, 2, "x")
		sink += f15(i, 2, "x")
		sink += f16(i, 2, "x")
		sink += f17(i, 2, "x")
		sink += f18(i, 2, "x")
		sink += f19(i, 2, "x")
		sink += f20(i, 2, "x")
		sink += f21(i, 2, "x")
		sink += f22(i, 2, "x")
		sink += f23(i, 2, "x")
		sink += f24(i, 2, "x")
		sink += f25(i, 2, "x")
		sink += f26(i, 2, "x")
		sink += f27(i, 2, "x")
		sink += f28(i, 2, "x")
		sink += f29(i, 2, "x")
		sink += f30(i, 2, "x")
		sink += f31(i, 2, "x")
		sink += f32(i, 2, "x")
		sink += f33(i, 2, "x")
		sink += f34(i, 2, "x")
		sink += f35(i, 2, "x")
		sink += f36(i, 2, "x")
		sink += f37(i, 2, "x")
		sink += f38(i, 2, "x")
		sink += f39(i, 2, "x")
		sink += f40(i, 2, "x")
		sink += f41(i, 2, "x")
		sink += f42(i, 2, "x")
		sink += f43(i, 2, "x")
		sink += f44(i, 2, "x")
		sink += f45(i, 2, "x")
		sink += f46(i, 2, "x")
		sink += f47(i, 2, "x")
		sink += f48(i, 2, "x")
		sink += f49(i, 2, "x")
		sink += f50(i, 2, "x")
		sink += f51(i, 2, "x")
		sink += f52(i, 2, "x")
		sink += f53(i, 2, "x")
		sink += f54(i, 2, "x")
		sink += f55(i, 2, "x")
		sink += f56(i, 2, "x")
		sink += f57(i, 2, "x")
		sink += f58(i, 2, "x")
		sink += f59(i, 2, "x")
		sink += f60(i, 2, "x")
		sink += f61(i, 2, "x")
		sink += f62(i, 2, "x")
		sink += f63(i, 2, "x")
		sink += f64(i, 2, "x")
		sink += f65(i, 2, "x")
		sink += f66(i, 2, "x")
		sink += f67(i, 2, "x")
		sink += f68(i, 2, "x")
		sink += f69(i, 2, "x")
		sink += f70(i, 2, "x")
		sink += f71(i, 2, "x")
		sink += f72(i, 2, "x")
		sink += f73(i, 2, "x")
		sink += f74(i, 2, "x")
		sink += f75(i, 2, "x")
		sink += f76(i, 2, "x")
		sink += f77(i, 2, "x")
		sink += f78(i, 2, "x")
		sink += f79(i, 2, "x")
		sink += f80(i, 2, "x")
		sink += f81(i, 2, "x")
		sink += f82(i, 2, "x")
		sink += f83(i, 2, "x")
		sink += f84(i, 2, "x")
		sink += f85(i, 2, "x")
		sink += f86(i, 2, "x")
		sink += f87(i, 2, "x")
		sink += f88(i, 2, "x")
		sink += f89(i, 2, "x")
		sink += f90(i, 2, "x")
		sink += f91(i, 2, "x")
		sink += f92(i, 2, "x")
		sink += f93(i, 2, "x")
		sink += f94(i, 2, "x")
		sink += f95(i, 2, "x")
		sink += f96(i, 2, "x")
		sink += f97(i, 2, "x")
		sink += f98(i, 2, "x")
		sink += f99(i, 2, "x")
		}
	}
	elapsed := time.Since(start)
	fmt.Printf("ns_per_call %.1f\n", float64(elapsed.Nanoseconds())/float64(n))
	fmt.Println("sink", sink)
}
