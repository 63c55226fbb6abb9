// Command types takes a parameter of every Go kind, so that irgen's view of each
// type can be checked against the compiler's. On startup it prints what
// unsafe.Sizeof, Alignof and Offsetof say about its types, one line each:
//
//	layout <DWARF type name> size=N align=N [field.<Name>=<offset> ...]
//
// then calls every probed function once. Probed functions are noinline.
//
// With the argument "hold" it then fills a few maps and a channel, prints their
// runtime header addresses as "hold <name>=0x...", and waits for a line on stdin,
// so that a test can walk them in its memory with nothing but the IR's layouts.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"
	"unsafe"
)

// Celsius is a named non-struct type with a value-receiver method.
type Celsius float64

func (c Celsius) String() string { return fmt.Sprintf("%.1fC", float64(c)) }

// Base is embedded in Derived.
type Base struct {
	ID  int32
	Tag string
}

// Derived embeds Base and has padding between its fields.
type Derived struct {
	Base
	Flag  bool
	Ratio float64
	Small int8
	Next  *Derived
}

// Scalars holds every numeric kind, in an order that needs padding.
type Scalars struct {
	B    bool
	I8   int8
	I16  int16
	I32  int32
	I64  int64
	I    int
	U8   uint8
	U16  uint16
	U32  uint32
	U64  uint64
	U    uint
	UP   uintptr
	F32  float32
	F64  float64
	C64  complex64
	C128 complex128
}

// Holder holds a field of every reference and composite kind.
type Holder struct {
	S    string
	P    *Base
	UP   unsafe.Pointer
	A    [3]int16
	Sl   []Base
	M    map[string]int
	MP   map[int]*Base
	Ch   chan Base
	Fn   func(int) int
	E    interface{}
	Err  error
	Str  fmt.Stringer
	Temp Celsius
}

// Empty has no fields.
type Empty struct{}

// Counter has methods on a value and on a pointer receiver.
type Counter struct {
	N    int
	Name string
}

//go:noinline
func (c Counter) Value(scale int) int { return c.N * scale }

//go:noinline
func (c *Counter) Add(d int) { c.N += d }

// Pair is a generic struct.
type Pair[K comparable, V any] struct {
	Key K
	Val V
}

//go:noinline
func Largest[T int | string](xs []T) T {
	var best T
	for i, x := range xs {
		if i == 0 || x > best {
			best = x
		}
	}
	return best
}

//go:noinline
func MakePair[K comparable, V any](k K, v V) Pair[K, V] {
	return Pair[K, V]{Key: k, Val: v}
}

// Stack is a generic type with a pointer-receiver method.
type Stack[T any] struct {
	items []T
}

//go:noinline
func (s *Stack[T]) Push(v T) int {
	s.items = append(s.items, v)
	return len(s.items)
}

// Describe is a value-receiver method of a generic type: its receiver takes two
// integer registers (Key string) and a float one (Val float64) or more.
//
//go:noinline
func (p Pair[K, V]) Describe(prefix string) string {
	return fmt.Sprint(prefix, p.Key, p.Val)
}

// Tally returns a closure created inside a generic function.
//
//go:noinline
func Tally[T any](xs []T) func(int) int {
	return func(extra int) int { return len(xs) + extra }
}

//go:noinline
func integers(b bool, i8 int8, i16 int16, i32 int32, i64 int64, i int,
	u8 uint8, u16 uint16, u32 uint32, u64 uint64, u uint, up uintptr) int {
	if !b {
		return 0
	}
	return int(i8) + int(i16) + int(i32) + int(i64) + i +
		int(u8) + int(u16) + int(u32) + int(u64) + int(u) + int(up)
}

//go:noinline
func floats(f32 float32, f64 float64, c64 complex64, c128 complex128) float64 {
	return float64(f32) + f64 + float64(real(c64)) + imag(c128)
}

//go:noinline
func text(s string, r rune, by byte) int { return len(s) + int(r) + int(by) }

//go:noinline
func pointers(p *Base, up unsafe.Pointer, pp **Base) bool {
	return p != nil && up != nil && pp != nil
}

//go:noinline
func structs(d Derived, s Scalars, e Empty) int {
	return int(d.ID) + len(d.Tag) + int(s.I8) + int(unsafe.Sizeof(e))
}

//go:noinline
func arrays(a [3]int16, big [5]Base, one [1]float64) int {
	return int(a[0]) + len(big[4].Tag) + int(one[0])
}

//go:noinline
func slices(xs []Base, bs []byte, ss []string) int { return len(xs) + len(bs) + len(ss) }

// BigKey and BigValue are over 128 bytes: maps store them by pointer.
type BigKey [20]int64
type BigValue [17]int64

//go:noinline
func maps(m map[string]int, mp map[int]*Base, big map[[3]int64]Derived,
	indirect map[BigKey]BigValue) int {
	return len(m) + len(mp) + len(big) + len(indirect)
}

//go:noinline
func channels(ch chan Base, recv <-chan int, send chan<- string) int {
	return cap(ch) + cap(recv) + cap(send)
}

//go:noinline
func funcs(fn func(int) int, cb func()) int {
	cb()
	return fn(2)
}

//go:noinline
func interfaces(e interface{}, err error, s fmt.Stringer) int {
	n := 0
	if e != nil {
		n++
	}
	if err != nil {
		n += len(err.Error())
	}
	return n + len(s.String())
}

//go:noinline
func named(c Celsius, h Holder, p Pair[string, int]) float64 {
	return float64(c) + float64(len(h.S)) + float64(p.Val)
}

// twice is small enough to be inlined into its callers.
func twice(x int) int {
	y := x * 2
	return y
}

//go:noinline
func inlining(a, b int) int {
	total := twice(a)
	if b > 0 {
		extra := twice(b) + 1
		total += extra
	}
	return total
}

//go:noinline
func makeAdder(base int) func(int) int {
	return func(x int) int { return base + x }
}

type layoutLine struct {
	name   string
	size   uintptr
	align  uintptr
	fields []string
}

func field(name string, offset uintptr) string { return fmt.Sprintf("field.%s=%d", name, offset) }

func layouts() []layoutLine {
	var (
		b   bool
		i8  int8
		i16 int16
		i32 int32
		i64 int64
		i   int
		u8  uint8
		u16 uint16
		u32 uint32
		u64 uint64
		u   uint
		up  uintptr
		f32 float32
		f64 float64
		c64 complex64
		c8  complex128
		s   string
		p   *Base
		upt unsafe.Pointer
		arr [3]int16
		big [5]Base
		sl  []Base
		m   map[string]int
		mp  map[int]*Base
		ch  chan Base
		fn  func(int) int
		e   interface{}
		err error
		str fmt.Stringer
		c   Celsius
		d   Derived
		sc  Scalars
		h   Holder
		em  Empty
		cn  Counter
		pr  Pair[string, int]
	)
	return []layoutLine{
		{"bool", unsafe.Sizeof(b), unsafe.Alignof(b), nil},
		{"int8", unsafe.Sizeof(i8), unsafe.Alignof(i8), nil},
		{"int16", unsafe.Sizeof(i16), unsafe.Alignof(i16), nil},
		{"int32", unsafe.Sizeof(i32), unsafe.Alignof(i32), nil},
		{"int64", unsafe.Sizeof(i64), unsafe.Alignof(i64), nil},
		{"int", unsafe.Sizeof(i), unsafe.Alignof(i), nil},
		{"uint8", unsafe.Sizeof(u8), unsafe.Alignof(u8), nil},
		{"uint16", unsafe.Sizeof(u16), unsafe.Alignof(u16), nil},
		{"uint32", unsafe.Sizeof(u32), unsafe.Alignof(u32), nil},
		{"uint64", unsafe.Sizeof(u64), unsafe.Alignof(u64), nil},
		{"uint", unsafe.Sizeof(u), unsafe.Alignof(u), nil},
		{"uintptr", unsafe.Sizeof(up), unsafe.Alignof(up), nil},
		{"float32", unsafe.Sizeof(f32), unsafe.Alignof(f32), nil},
		{"float64", unsafe.Sizeof(f64), unsafe.Alignof(f64), nil},
		{"complex64", unsafe.Sizeof(c64), unsafe.Alignof(c64), nil},
		{"complex128", unsafe.Sizeof(c8), unsafe.Alignof(c8), nil},
		{"string", unsafe.Sizeof(s), unsafe.Alignof(s), nil},
		{"*main.Base", unsafe.Sizeof(p), unsafe.Alignof(p), nil},
		{"unsafe.Pointer", unsafe.Sizeof(upt), unsafe.Alignof(upt), nil},
		{"[3]int16", unsafe.Sizeof(arr), unsafe.Alignof(arr), nil},
		{"[5]main.Base", unsafe.Sizeof(big), unsafe.Alignof(big), nil},
		{"[]main.Base", unsafe.Sizeof(sl), unsafe.Alignof(sl), nil},
		{"map[string]int", unsafe.Sizeof(m), unsafe.Alignof(m), nil},
		{"map[int]*main.Base", unsafe.Sizeof(mp), unsafe.Alignof(mp), nil},
		{"chan main.Base", unsafe.Sizeof(ch), unsafe.Alignof(ch), nil},
		{"func(int) int", unsafe.Sizeof(fn), unsafe.Alignof(fn), nil},
		{"interface {}", unsafe.Sizeof(e), unsafe.Alignof(e), nil},
		{"error", unsafe.Sizeof(err), unsafe.Alignof(err), nil},
		{"fmt.Stringer", unsafe.Sizeof(str), unsafe.Alignof(str), nil},
		{"main.Celsius", unsafe.Sizeof(c), unsafe.Alignof(c), nil},
		{"main.Base", unsafe.Sizeof(d.Base), unsafe.Alignof(d.Base), []string{
			field("ID", unsafe.Offsetof(d.Base.ID)),
			field("Tag", unsafe.Offsetof(d.Base.Tag)),
		}},
		{"main.Derived", unsafe.Sizeof(d), unsafe.Alignof(d), []string{
			field("Base", unsafe.Offsetof(d.Base)),
			field("Flag", unsafe.Offsetof(d.Flag)),
			field("Ratio", unsafe.Offsetof(d.Ratio)),
			field("Small", unsafe.Offsetof(d.Small)),
			field("Next", unsafe.Offsetof(d.Next)),
		}},
		{"main.Scalars", unsafe.Sizeof(sc), unsafe.Alignof(sc), []string{
			field("B", unsafe.Offsetof(sc.B)),
			field("I8", unsafe.Offsetof(sc.I8)),
			field("I16", unsafe.Offsetof(sc.I16)),
			field("I32", unsafe.Offsetof(sc.I32)),
			field("I64", unsafe.Offsetof(sc.I64)),
			field("I", unsafe.Offsetof(sc.I)),
			field("U8", unsafe.Offsetof(sc.U8)),
			field("U16", unsafe.Offsetof(sc.U16)),
			field("U32", unsafe.Offsetof(sc.U32)),
			field("U64", unsafe.Offsetof(sc.U64)),
			field("U", unsafe.Offsetof(sc.U)),
			field("UP", unsafe.Offsetof(sc.UP)),
			field("F32", unsafe.Offsetof(sc.F32)),
			field("F64", unsafe.Offsetof(sc.F64)),
			field("C64", unsafe.Offsetof(sc.C64)),
			field("C128", unsafe.Offsetof(sc.C128)),
		}},
		{"main.Holder", unsafe.Sizeof(h), unsafe.Alignof(h), []string{
			field("S", unsafe.Offsetof(h.S)),
			field("P", unsafe.Offsetof(h.P)),
			field("UP", unsafe.Offsetof(h.UP)),
			field("A", unsafe.Offsetof(h.A)),
			field("Sl", unsafe.Offsetof(h.Sl)),
			field("M", unsafe.Offsetof(h.M)),
			field("MP", unsafe.Offsetof(h.MP)),
			field("Ch", unsafe.Offsetof(h.Ch)),
			field("Fn", unsafe.Offsetof(h.Fn)),
			field("E", unsafe.Offsetof(h.E)),
			field("Err", unsafe.Offsetof(h.Err)),
			field("Str", unsafe.Offsetof(h.Str)),
			field("Temp", unsafe.Offsetof(h.Temp)),
		}},
		{"main.Empty", unsafe.Sizeof(em), unsafe.Alignof(em), nil},
		{"main.Counter", unsafe.Sizeof(cn), unsafe.Alignof(cn), []string{
			field("N", unsafe.Offsetof(cn.N)),
			field("Name", unsafe.Offsetof(cn.Name)),
		}},
		{"main.Pair[string,int]", unsafe.Sizeof(pr), unsafe.Alignof(pr), []string{
			field("Key", unsafe.Offsetof(pr.Key)),
			field("Val", unsafe.Offsetof(pr.Val)),
		}},
	}
}

func main() {
	for _, l := range layouts() {
		line := fmt.Sprintf("layout %s size=%d align=%d", l.name, l.size, l.align)
		if len(l.fields) > 0 {
			line += " " + strings.Join(l.fields, " ")
		}
		fmt.Println(line)
	}

	base := &Base{ID: 7, Tag: "seven"}
	total := integers(true, -8, -16, -32, -64, -1, 8, 16, 32, 64, 1, 0xbeef)
	total += int(floats(1.5, 2.25, complex(3, 4), complex(5, 6)))
	total += text("héllo", 'é', 'x')
	if pointers(base, unsafe.Pointer(base), &base) {
		total++
	}
	d := Derived{Base: *base, Flag: true, Ratio: 0.5, Small: -3}
	total += structs(d, Scalars{I8: 1, C128: complex(1, 2)}, Empty{})
	total += arrays([3]int16{1, 2, 3}, [5]Base{4: {Tag: "four"}}, [1]float64{2})
	total += slices([]Base{*base}, []byte("abc"), []string{"x", "y"})
	m := map[string]int{"one": 1, "two": 2}
	mp := map[int]*Base{1: base}
	big := map[[3]int64]Derived{{1, 2, 3}: d}
	total += maps(m, mp, big, map[BigKey]BigValue{{1}: {2}})
	ch := make(chan Base, 4)
	ch <- *base
	recv := make(chan int, 2)
	total += channels(ch, recv, make(chan string))
	adder := makeAdder(40)
	total += funcs(adder, func() { total++ })
	var err error = errors.New("boom")
	total += interfaces(base, err, Celsius(21.5))
	h := Holder{S: "holder", P: base, M: m, MP: mp, Ch: ch, Fn: adder, E: 3, Err: err, Temp: 4}
	total += int(named(Celsius(-1), h, Pair[string, int]{"k", 9}))
	total += inlining(3, 4)
	c := Counter{N: 2, Name: "c"}
	c.Add(3)
	total += c.Value(10)
	total += Largest([]int{3, 9, 4})
	total += len(Largest([]string{"a", "zz", "b"}))
	var si Stack[int]
	var ss Stack[string]
	total += si.Push(1) + ss.Push("one") + si.Push(2)
	total += len(Pair[string, float64]{"pi", 3.14}.Describe("pair:"))
	total += Tally([]string{"a", "b"})(1)
	pi := MakePair("answer", 42)
	ps := MakePair(1.5, "x")
	total += pi.Val + len(ps.Val)
	fmt.Println("total:", total)
	if len(os.Args) > 1 && os.Args[1] == "hold" {
		hold()
	}
	os.Exit(0)
}

// Held values: globals, so they stay reachable while the test reads them.
var (
	heldBig      map[int]int
	heldSmall    map[string]int
	heldEmpty    map[int]int
	heldIndirect map[BigKey]BigValue
	heldChan     chan int64
)

func header(p unsafe.Pointer) uintptr { return *(*uintptr)(p) }

// held takes the held values, so that their types are in its IR.
//
//go:noinline
func held(big, empty map[int]int, small map[string]int, indirect map[BigKey]BigValue,
	ch chan int64) int {
	return len(big) + len(empty) + len(small) + len(indirect) + len(ch)
}

func hold() {
	heldBig = map[int]int{}
	for i := 0; i < 1000; i++ {
		heldBig[i] = i * i
	}
	heldSmall = map[string]int{"one": 1, "two": 2, "three": 3}
	heldEmpty = make(map[int]int)
	heldIndirect = map[BigKey]BigValue{}
	for i := 0; i < 20; i++ {
		heldIndirect[BigKey{0: int64(i), 19: -1}] = BigValue{0: int64(2 * i), 16: 7}
	}
	heldChan = make(chan int64, 8)
	for i := 1; i <= 8; i++ {
		heldChan <- int64(10 * i)
	}
	<-heldChan
	<-heldChan
	heldChan <- 90 // wraps around the ring: recvx is 2, sendx 1
	fmt.Printf("hold heldBig=%#x\n", header(unsafe.Pointer(&heldBig)))
	fmt.Printf("hold heldSmall=%#x\n", header(unsafe.Pointer(&heldSmall)))
	fmt.Printf("hold heldEmpty=%#x\n", header(unsafe.Pointer(&heldEmpty)))
	fmt.Printf("hold heldIndirect=%#x\n", header(unsafe.Pointer(&heldIndirect)))
	fmt.Printf("hold heldChan=%#x\n", header(unsafe.Pointer(&heldChan)))
	fmt.Println("hold ready", held(heldBig, heldEmpty, heldSmall, heldIndirect, heldChan))
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
}
