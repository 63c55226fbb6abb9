// Command secrets plants secrets in every kind of place a probe captures: an
// argument, a struct field, map values under redacted keys (string and integer
// values, in a map argument, a map field, a map behind an interface and a map in a
// slice element), a slice element's field, a return value and a local. Each
// secret is a distinct string (or integer) a test looks for in the raw dump.
//
// It prints what it passed, so that a test knows the values from the program.
package main

import (
	"fmt"
	"os"
	"strings"
)

// Account holds a redacted field next to plain ones.
type Account struct {
	User     string
	Password string
	Headers  map[string]string
}

//go:noinline
func login(user string, password string, acct *Account, headers map[string]string,
	pins map[string]int, extra any) int {
	return len(user) + len(password) + len(acct.User) + len(headers) + len(pins) +
		boolInt(extra != nil)
}

//go:noinline
func batch(all []Account, maps []map[string]string) int {
	return len(all) + len(maps)
}

//go:noinline
func mint(user string) (token string, n int) {
	token = "SECRET-RETURN-" + strings.ToUpper(user)
	return token, len(token)
}

//go:noinline
func keep(user string) int {
	apiKey := "SECRET-LOCAL-" + strings.ToUpper(user)
	n := len(apiKey)
	fmt.Fprintf(os.Stderr, "local %d\n", n) // a line with apiKey live
	return n + len(user) + len(apiKey)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func main() {
	user := "bob"
	acct := &Account{
		User:     "bob",
		Password: "SECRET-FIELD-" + user,
		Headers:  map[string]string{"Authorization": "SECRET-FIELD-MAP-" + user, "Accept": "text/plain"},
	}
	headers := map[string]string{
		"Authorization":  "Bearer SECRET-MAP-AUTH-" + user,
		"x-api-key":      "SECRET-MAP-XAPIKEY-" + user,
		"API_KEY":        "SECRET-MAP-APIKEY-" + user,
		"password":       "SECRET-MAP-PASSWORD-" + user,
		"X-Api-\u212aey": "SECRET-MAP-KELVIN-" + user, // U+212A KELVIN SIGN: "xapikey" lower-cased
		"user":           "plain-" + user,
	}
	pins := map[string]int{"pin": 0x5EC7E7_0BADC0DE, "count": 7}
	var extra any = map[string]string{"secret": "SECRET-IFACE-" + user, "ok": "fine"}
	all := []Account{{User: "eve", Password: "SECRET-SLICE-" + user}}
	maps := []map[string]string{{"Token": "SECRET-SLICE-MAP-" + user, "name": "x"}}
	fmt.Println("login", login(user, "SECRET-ARG-"+user, acct, headers, pins, extra))
	fmt.Println("batch", batch(all, maps))
	token, n := mint(user)
	fmt.Println("mint", n, len(token))
	fmt.Println("keep", keep(user))
	vaults()
}
