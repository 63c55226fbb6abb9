// Command example is godi's bundled demo target: a small shop whose functions take
// arguments of every kind the walking skeleton captures. Probed functions are marked
// noinline so that each call is a real call at a stable address.
package main

import (
	"fmt"
	"os"
)

// Point fits in two integer registers under the register ABI.
type Point struct {
	X, Y int32
}

// Mixed is split over integer and floating-point registers.
type Mixed struct {
	ID     uint16
	Ok     bool
	Weight float32
	Label  string
	Scale  float64
}

// Shape holds an array of length > 1, so the ABI always passes it on the stack.
type Shape struct {
	Name    string
	Corners [4]Point
	Origin  *Point
}

// Node is a singly linked list cell: pointer chains deeper than maxReferenceDepth.
type Node struct {
	Val  int
	Name string
	Next *Node
}

// Item is one line of a Cart.
type Item struct {
	SKU      string
	Qty      int
	PriceEUR float64
}

// Cart is a method receiver.
type Cart struct {
	Owner string
	Items [2]Item
	Coupon *string
}

//go:noinline
func scalars(i8 int8, i16 int16, i32 int32, i64 int64, i int,
	u8 uint8, u16 uint16, u32 uint32, u64 uint64, u uint,
	b bool, f32 float32, f64 float64, up uintptr) int64 {
	// 14 integer-class arguments: the last five do not fit in the nine integer
	// registers and are passed on the stack.
	total := int64(i8) + int64(i16) + int64(i32) + i64 + int64(i) +
		int64(u8) + int64(u16) + int64(u32) + int64(u64) + int64(u) + int64(up)
	if b {
		total += int64(f32) + int64(f64)
	}
	return total
}

//go:noinline
func greet(name string, times int) string {
	out := ""
	for k := 0; k < times; k++ {
		out += "hello " + name + "! "
	}
	return out
}

//go:noinline
func move(p Point, dx int32) Point {
	return Point{X: p.X + dx, Y: p.Y}
}

//go:noinline
func weigh(m Mixed, factor float64) float64 {
	return float64(m.Weight) * m.Scale * factor
}

//go:noinline
func describe(s Shape) int {
	n := len(s.Name)
	for _, c := range s.Corners {
		n += int(c.X + c.Y)
	}
	return n
}

//go:noinline
func sum(xs [3]int) int {
	return xs[0] + xs[1] + xs[2]
}

//go:noinline
func walk(n *Node) int {
	count := 0
	for ; n != nil; n = n.Next {
		count += n.Val
	}
	return count
}

//go:noinline
func (c *Cart) Checkout(discount float64) float64 {
	total := 0.0
	for _, it := range c.Items {
		total += float64(it.Qty) * it.PriceEUR
	}
	return total * (1 - discount)
}

func main() {
	fmt.Println("scalars:", scalars(-8, -16, -32, -64, -1, 8, 16, 32, 64, 1, true, 1.5, -2.25, 0xdead))
	fmt.Println("greet:", greet("gopher", 2))
	fmt.Println("move:", move(Point{X: 3, Y: -4}, 10))
	fmt.Println("weigh:", weigh(Mixed{ID: 7, Ok: true, Weight: 2.5, Label: "crate", Scale: 0.5}, 4))
	origin := &Point{X: 1, Y: 1}
	fmt.Println("describe:", describe(Shape{Name: "square",
		Corners: [4]Point{{0, 0}, {0, 2}, {2, 2}, {2, 0}}, Origin: origin}))
	fmt.Println("sum:", sum([3]int{10, 20, 30}))
	list := &Node{Val: 1, Name: "one", Next: &Node{Val: 2, Name: "two",
		Next: &Node{Val: 3, Name: "three", Next: &Node{Val: 4, Name: "four",
			Next: &Node{Val: 5, Name: "five"}}}}}
	fmt.Println("walk:", walk(list))
	fmt.Println("walk nil:", walk(nil))
	coupon := "SPRING"
	cart := &Cart{Owner: "ada", Items: [2]Item{{"apple", 3, 0.5}, {"pear", 1, 1.25}}, Coupon: &coupon}
	fmt.Printf("checkout: %.3f\n", cart.Checkout(0.1))
	os.Exit(0)
}
