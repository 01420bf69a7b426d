package sqllex

import (
	"strings"
	"testing"
)

func TestTokens(t *testing.T) {
	src := "SELECT \"a\"\"b\", [c d] -- note\nFROM t WHERE x >= ?12 AND y LIKE 'o''k%' /* c */ AND z = :n"
	var got []string
	for _, tok := range Tokens(src) {
		if src[tok.Pos:tok.End()] != tok.Text {
			t.Fatalf("token %q at %d: the source there is %q", tok.Text, tok.Pos, src[tok.Pos:tok.End()])
		}
		got = append(got, tok.Text)
	}
	want := `SELECT|"a""b"|,|[c d]|FROM|t|WHERE|x|>=|?12|AND|y|LIKE|'o''k%'|AND|z|=|:n`
	if strings.Join(got, "|") != want {
		t.Errorf("tokens\n got %s\nwant %s", strings.Join(got, "|"), want)
	}
}

func TestUnquote(t *testing.T) {
	for in, want := range map[string]string{`"a""b"`: `a"b`, "[c d]": "c d", "`x``y`": "x`y", "plain": "plain", `"open`: "open"} {
		toks := Tokens(in)
		if len(toks) != 1 {
			t.Fatalf("%s: %d tokens", in, len(toks))
		}
		if got := Unquote(toks[0]); got != want {
			t.Errorf("Unquote(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestKeywords(t *testing.T) {
	if !IsKeyword("select") || IsKeyword("trades") {
		t.Error("IsKeyword")
	}
	k := Keywords()
	delete(k, "SELECT")
	if !IsKeyword("SELECT") {
		t.Error("Keywords hands out the package's own map")
	}
}
