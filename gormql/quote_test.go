package gormql

import (
	"strings"
	"testing"
)

// QuoteTo quotes each dot-separated part of a name as quoteIdent does
// (double quotes, a double quote doubled), leaves "*" bare, and allocates
// nothing: GORM calls it for every name of every statement.
func TestQuoteTo(t *testing.T) {
	d := &Dialector{}
	for _, name := range []string{"users", "users.id", "users.*", "*", "", ".", "a..b", `we"ird`, `a"b"c.d""e`, "schema.t.col", "ünï.cøde", "."} {
		var want []string
		for _, part := range strings.Split(name, ".") {
			if part == "*" {
				want = append(want, "*")
			} else {
				want = append(want, quoteIdent(part))
			}
		}
		var b strings.Builder
		d.QuoteTo(&b, name)
		if got := b.String(); got != strings.Join(want, ".") {
			t.Errorf("QuoteTo(%q) = %s, want %s", name, got, strings.Join(want, "."))
		}
	}
	var b strings.Builder
	b.Grow(1 << 16)
	if n := testing.AllocsPerRun(100, func() { d.QuoteTo(&b, `orders.user_"id`) }); n != 0 {
		t.Errorf("QuoteTo allocates %.0f times per call, want none", n)
	}
}
