package rewrite

import (
	"slices"
	"strconv"
	"strings"

	"github.com/quantumleap/qlsqlite/internal/sqllex"
)

// A text renders parts of the original statement for a rewrite.
//
// A rewrite takes the same arguments as the original, yet it may repeat a
// parameter (the UNION ALL branches of an OR both test the other conditions)
// or move one. So every positional parameter is rendered numbered, ?N where
// N is the index SQLite gave it in the original: an anonymous ? becomes ?1,
// ?2, ... as SQLite counts them, and a repeated ?N keeps its N. Named
// parameters (:name, @name, $name) keep their names. A statement that mixes
// positional and named parameters is not rewritten: where a named one first
// appears decides its index, which a rewrite would shift.
type text struct {
	src    string
	toks   []sqllex.Token
	params map[int]int // token index -> SQLite's parameter index
	maxArg int         // the largest parameter index
	named  bool        // the statement has named parameters
	mixed  bool        // ... and positional ones too
}

func newText(src string, toks []sqllex.Token) *text {
	t := &text{src: src, toks: toks, params: map[int]int{}}
	names := map[string]int{}
	positional := false
	for i, tok := range toks {
		if tok.Kind != sqllex.Param {
			continue
		}
		switch {
		case tok.Text == "?":
			t.maxArg++
			t.params[i] = t.maxArg
			positional = true
		case tok.Text[0] == '?':
			n, err := strconv.Atoi(tok.Text[1:])
			if err != nil || n < 1 {
				t.mixed = true // SQLite refuses it; nothing will be rewritten
				continue
			}
			t.params[i] = n
			t.maxArg = max(t.maxArg, n)
			positional = true
		default:
			n, ok := names[tok.Text]
			if !ok {
				t.maxArg++
				n = t.maxArg
				names[tok.Text] = n
			}
			t.params[i] = n
			t.named = true
		}
	}
	t.mixed = t.mixed || t.named && positional
	return t
}

// used reports whether some parameter of the statement has index idx.
func (t *text) used(idx int) bool {
	for _, n := range t.params {
		if n == idx {
			return true
		}
	}
	return false
}

// span renders tokens [lo, hi) as written, comments and spacing between
// them included, with positional parameters numbered.
func (t *text) span(lo, hi int) string {
	if lo >= hi {
		return ""
	}
	var b strings.Builder
	for i := lo; i < hi; i++ {
		if i > lo {
			b.WriteString(t.src[t.toks[i-1].End():t.toks[i].Pos])
		}
		b.WriteString(t.token(i))
	}
	return b.String()
}

// node renders expression n as written.
func (t *text) node(n *node) string { return t.span(n.lo, n.hi) }

// paren renders n in parentheses unless it is a primary expression already.
func (t *text) paren(n *node) string {
	switch n.kind {
	case nColumn, nLiteral, nParam, nFunc, nParen, nSubquery, nExists, nCast:
		return t.node(n)
	}
	return "(" + t.node(n) + ")"
}

func (t *text) token(i int) string {
	tok := t.toks[i]
	if tok.Kind == sqllex.Param && tok.Text[0] == '?' {
		return "?" + strconv.Itoa(t.params[i])
	}
	return tok.Text
}

// splice renders tokens [lo, hi) with the spans of edits replaced by their
// text, keeping the original spacing around them (a space is added only
// where a word would run into another). Edits must not overlap; they may
// come in any order. Edits outside [lo, hi) are ignored.
func (t *text) splice(lo, hi int, edits ...edit) string {
	edits = slices.Clone(edits)
	slices.SortStableFunc(edits, func(a, b edit) int { return a.lo - b.lo })
	var b strings.Builder
	write := func(s string) {
		if s == "" {
			return
		}
		if b.Len() > 0 {
			prev := b.String()[b.Len()-1]
			if sqllex.IsIdent(prev) && sqllex.IsIdent(s[0]) {
				b.WriteByte(' ')
			}
		}
		b.WriteString(s)
	}
	at := lo
	for _, e := range edits {
		if e.lo < at || e.lo > hi || e.lo == hi && e.hi != hi {
			continue
		}
		if at < e.lo {
			write(t.span(at, e.lo))
			if e.lo != e.hi {
				write(t.gap(e.lo))
			}
		}
		write(e.text)
		at = e.hi
		if at < hi {
			write(t.gap(at))
		}
	}
	write(t.span(at, hi))
	return b.String()
}

// gap is the text (spaces, comments) between token i-1 and token i.
func (t *text) gap(i int) string {
	if i <= 0 || i >= len(t.toks) {
		return ""
	}
	return t.src[t.toks[i-1].End():t.toks[i].Pos]
}

// An edit replaces tokens [lo, hi) (lo == hi: inserts before token lo).
type edit struct {
	lo, hi int
	text   string
}

// quoteIdent quotes an identifier when it needs it.
func quoteIdent(s string) string {
	if s != "" && sqllex.IsIdentStart(s[0]) && !sqllex.IsKeyword(s) && strings.IndexFunc(s, func(r rune) bool {
		return r < 0x80 && !sqllex.IsIdent(byte(r))
	}) < 0 {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// quoteText renders s as an SQL string literal.
func quoteText(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
