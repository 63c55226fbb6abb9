// Command server is a small net/http server on the loopback interface, the target
// of godi's attach (--pid) and live view tests. It listens on 127.0.0.1 on a port
// the kernel chooses and prints "listening on 127.0.0.1:PORT".
//
// GET /greet?name=N&times=T greets N T times (greet); GET /cart?sku=S&qty=Q puts Q
// of S into a cart and totals it (the (*Cart) methods). Each handled request prints
// what was called with which values, the ground truth the tests compare with.
//
// With -self N the program is its own client: it makes N /greet and N /cart
// requests to itself, then exits (a target godi can launch).
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
)

// Cart is a method receiver for the glob tests ('main.(*Cart).*').
type Cart struct {
	Owner string
	Items []Item
}

// Item is one line of a Cart.
type Item struct {
	SKU string
	Qty int
}

//go:noinline
func greet(name string, times int) string {
	out := strings.Repeat("hello "+name+"! ", times) // the line probe's line
	return strings.TrimSpace(out)
}

//go:noinline
func (c *Cart) Add(sku string, qty int) {
	c.Items = append(c.Items, Item{SKU: sku, Qty: qty})
}

//go:noinline
func (c *Cart) Total() int {
	total := 0
	for _, it := range c.Items {
		total += it.Qty
	}
	return total
}

func number(r *http.Request, key string, fallback int) int {
	n, err := strconv.Atoi(r.URL.Query().Get(key))
	if err != nil {
		return fallback
	}
	return n
}

func handleGreet(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	times := number(r, "times", 1)
	text := greet(name, times)
	fmt.Printf("greet name=%s times=%d\n", name, times)
	io.WriteString(w, text+"\n")
}

func handleCart(w http.ResponseWriter, r *http.Request) {
	c := &Cart{Owner: "web"}
	sku := r.URL.Query().Get("sku")
	qty := number(r, "qty", 1)
	c.Add(sku, qty)
	total := c.Total()
	fmt.Printf("cart sku=%s qty=%d total=%d\n", sku, qty, total)
	fmt.Fprintf(w, "%d\n", total)
}

func get(url string) {
	resp, err := http.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "server: self request:", err)
		os.Exit(1)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

func main() {
	self := flag.Int("self", 0, "make this many requests of each kind to itself, then exit")
	flag.Parse()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/greet", handleGreet)
	mux.HandleFunc("/cart", handleCart)
	fmt.Printf("listening on %s\n", ln.Addr())
	if *self == 0 {
		http.Serve(ln, mux)
		return
	}
	go http.Serve(ln, mux)
	base := "http://" + ln.Addr().String()
	for i := 1; i <= *self; i++ {
		get(fmt.Sprintf("%s/greet?name=gopher%d&times=%d", base, i, i))
		get(fmt.Sprintf("%s/cart?sku=sku%d&qty=%d", base, i, i*10))
	}
}
