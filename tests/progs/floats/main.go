// Floats in vector registers (issue 22): every function prints its arguments and
// results with %v, so a test can check godi's values against the program's own.
// Modes (first argument): "plain", "load" (GOMAXPROCS goroutines spinning, so the
// runtime preempts asynchronously with SIGURG), "signals" (SIGUSR1 sent to itself
// in a loop and handled), "stack" (calls at growing stack depth, moving the
// stack between calls), "all" (load, signals and stack at once), "notify" (the
// program asks for SIGURG with signal.Notify).
package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
)

type Point struct {
	X, Y float64
}

type Mixed struct {
	N int
	F float32
	S string
	G float64
}

//go:noinline
func double(x float64) float64 {
	r := x + x
	fmt.Printf("double(%v) = %v\n", x, r)
	return r
}

//go:noinline
func scale(a float32, n int, b float64) (float32, float64) {
	ra, rb := a*float32(n), b/float64(n)
	fmt.Printf("scale(%v, %v, %v) = %v %v\n", a, n, b, ra, rb)
	return ra, rb
}

//go:noinline
func rotate(c complex128, d complex64) complex128 {
	r := c * complex128(d)
	fmt.Printf("rotate(%v, %v) = %v\n", c, d, r)
	return r
}

//go:noinline
func norm(p Point, m Mixed) float64 {
	r := p.X*p.X + p.Y*p.Y + float64(m.F) + m.G
	fmt.Printf("norm(%v, %v) = %v\n", p, m, r)
	return r
}

//go:noinline
func spread(v [2]float64, w [1]float32) Point {
	r := Point{v[0] + float64(w[0]), v[1] - float64(w[0])}
	fmt.Printf("spread(%v, %v) = %v\n", v, w, r)
	return r
}

//go:noinline
func sign(x float64) (float64, string) {
	if x < 0 {
		fmt.Printf("sign(%v) = %v %v\n", x, -1.0, "negative")
		return -1, "negative"
	}
	if x == 0 {
		fmt.Printf("sign(%v) = %v %v\n", x, 0.0, "zero")
		return 0, "zero"
	}
	fmt.Printf("sign(%v) = %v %v\n", x, 1.0, "positive")
	return 1, "positive"
}

//go:noinline
func many(a, b, c, d, e, f, g, h, i, j, k, l, m, n, o float64) float64 {
	r := a + b + c + d + e + f + g + h + i + j + k + l + m + n + o
	fmt.Printf("many(%v %v %v %v %v %v %v %v %v %v %v %v %v %v %v) = %v\n",
		a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, r)
	return r
}

// deep calls f at depth n, with a frame big enough that the stack grows.
//
//go:noinline
func deep(n int, f func()) int {
	var pad [64]int
	pad[n%64] = n
	if n == 0 {
		f()
		return pad[0]
	}
	return deep(n-1, f) + pad[n%64]
}

// twice's first instruction (frameless: no stack check) is ADDSD X0, X0: at its
// entry probe X0 is already doubled, and godi must not show it as x.
//
//go:noinline
func twice(x float64) float64 {
	return x + x
}

func round(i int) {
	x := float64(i) + 0.25
	double(x)
	fmt.Printf("twice(%v) = %v\n", x, twice(x))
	scale(float32(i)+0.5, i+1, x*3)
	rotate(complex(x, -x), complex(float32(i), 2))
	norm(Point{x, 2}, Mixed{N: i, F: 1.5, S: "m", G: x / 2})
	spread([2]float64{x, -x}, [1]float32{0.125})
	sign(x - 2)
	many(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, x)
}

func main() {
	mode := "plain"
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	rounds := 4
	var stop atomic.Bool
	load := mode == "load" || mode == "all"
	signals := mode == "signals" || mode == "all"
	stack := mode == "stack" || mode == "all"
	if load {
		for g := 0; g < runtime.GOMAXPROCS(0); g++ {
			go func() {
				n := 0
				for !stop.Load() {
					n++
				}
				_ = n
			}()
		}
		rounds = 40
	}
	if signals {
		c := make(chan os.Signal, 64)
		signal.Notify(c, syscall.SIGUSR1)
		go func() {
			for !stop.Load() {
				_ = syscall.Kill(os.Getpid(), syscall.SIGUSR1)
				time.Sleep(50 * time.Microsecond)
			}
		}()
		go func() {
			for range c {
			}
		}()
		rounds = 40
	}
	if mode == "notify" {
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGURG)
	}
	for i := 0; i < rounds; i++ {
		if stack {
			deep(i*40, func() { round(i) })
		} else {
			round(i)
		}
		if load {
			time.Sleep(time.Millisecond)
		}
	}
	stop.Store(true)
	fmt.Println("done")
}
