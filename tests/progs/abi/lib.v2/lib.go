// Package lib is imported as abi/lib.v2: the linker spells its symbols and type
// names lib%2ev2 (the dot escaped), which a snapshot must not show.
package lib

type V2Type struct {
	N int
}

//go:noinline
func Use(v V2Type) int { return v.N }
