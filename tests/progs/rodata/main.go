// Command rodata passes slices of a large string literal (embedded: its bytes are
// in the binary's read-only data) to show, one per line of stdin giving the
// offset, and prints what it passed after the call. Pages of the literal that
// nothing read before are not mapped in the process until something reads them.
package main

import (
	"bufio"
	_ "embed"
	"fmt"
	"os"
	"strconv"
)

//go:embed data.txt
var data string

//go:noinline
func show(s string) int { return len(s) }

func main() {
	fmt.Println("ready", len(data))
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		off, err := strconv.Atoi(in.Text())
		if err != nil || off < 0 || off+32 > len(data) {
			fmt.Println("bad offset")
			continue
		}
		s := data[off : off+32]
		n := show(s)
		fmt.Printf("%d %s\n", n, s)
	}
}
