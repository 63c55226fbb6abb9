package main

// Secrets held inline: scalars, an array and a struct under redacted field names,
// and a value of a redacted type, in every place a value is copied whole (an
// argument by value, from registers or the stack; behind a pointer, in a slice,
// in an array, in interfaces, in a map's buckets; a return value; a local).

import "fmt"

// Secret words all end (little-endian: their top bytes) in 0x5EC7E7ED; plain
// words, next to them, in 0x0B5E4BAB. A test greps the dump for both.
const (
	secretTag = 0x5EC7E7ED << 32
	plainTag  = 0x0B5E4BAB << 32
)

// Inner is plain by itself; under a redacted field name it is secret.
type Inner struct{ A, B uint64 }

// Card is a redacted type (DD_DYNAMIC_INSTRUMENTATION_REDACTED_TYPES=main.Card).
type Card struct{ Number uint64 }

// Vault holds secrets inline, between plain fields. With its array it is not
// register-assignable: it goes by the stack, and a map keeps it in its buckets.
type Vault struct {
	Owner       string
	PIN         int
	Password    [16]byte
	apiKey      uint64
	Credentials Inner
	Card        Card
	Count       uint64
}

// Badge is register-assignable: its fields come from registers.
type Badge struct {
	Owner string
	Pin   int
	Count uint64
}

// Box holds vaults in an array.
type Box struct {
	Items [2]Vault
}

func vault(n uint64) Vault {
	v := Vault{
		Owner:       fmt.Sprintf("vault-owner-%d", n),
		PIN:         int(secretTag | n<<8 | 1),
		apiKey:      secretTag | n<<8 | 2,
		Credentials: Inner{A: secretTag | n<<8 | 3, B: secretTag | n<<8 | 4},
		Card:        Card{Number: secretTag | n<<8 | 5},
		Count:       plainTag | n,
	}
	copy(v.Password[:], fmt.Sprintf("SECRET-ARRAY-%03d", n))
	return v
}

//go:noinline
func unlock(b Badge, v Vault, p *Vault, vs []Vault, box *Box, ifv any, ifp any,
	m map[string]Vault, card Card, cards []Card) int {
	return b.Pin%7 + v.PIN%7 + p.PIN%7 + len(vs) + len(box.Items) + len(m) +
		boolInt(ifv != nil) + boolInt(ifp != nil) + int(card.Number%3) + len(cards)
}

//go:noinline
func forge(n uint64) (v Vault) {
	v = vault(n)
	return v
}

//go:noinline
func badge(n uint64) Badge {
	return Badge{Owner: "badge-owner", Pin: int(secretTag | n<<8 | 6), Count: plainTag | n}
}

//go:noinline
func use(v Vault, b Badge) int { return v.PIN%5 + b.Pin%5 }

//go:noinline
func hold(n uint64) int {
	v := vault(n)
	b := badge(n)
	fmt.Println("hold", v.Count&0xff, b.Count&0xff) // a line with v and b live
	return use(v, b)
}

// Pair holds a secret (Hush: DD_DYNAMIC_INSTRUMENTATION_REDACTED_IDENTIFIERS=hush)
// beside a plain word; Hushed has 64 of them apart, 64 ranges to zero per element:
// a slice of 40 is more zeroing than the BPF walker has steps for.
type Pair struct {
	Hush uint64
	Ok   uint64
}

// Hushed is 1 KiB of pairs.
type Hushed struct {
	Pairs [64]Pair
}

//go:noinline
func hush(all []Hushed) int { return len(all) }

func vaults() {
	box := &Box{Items: [2]Vault{vault(5), vault(6)}}
	p := vault(2)
	fmt.Println("unlock", unlock(badge(1), vault(1), &p, []Vault{vault(3), vault(4)}, box,
		vault(7), &Box{Items: [2]Vault{vault(8), vault(9)}}, map[string]Vault{"a": vault(10)},
		Card{Number: secretTag | 14<<8 | 5}, []Card{{Number: secretTag | 15<<8 | 5}}) >= 0)
	v := forge(11)
	fmt.Println("forge", v.Count&0xff)
	fmt.Println("use", hold(13) >= 0)
	all := make([]Hushed, 40)
	for i := range all {
		for j := range all[i].Pairs {
			all[i].Pairs[j] = Pair{Hush: secretTag | uint64(i)<<16 | uint64(j)<<8 | 7, Ok: 1}
		}
	}
	fmt.Println("hush", hush(all))
}
