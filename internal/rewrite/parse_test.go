package rewrite

import (
	"errors"
	"strings"
	"testing"
)

func TestParseShapes(t *testing.T) {
	for _, q := range []string{
		`SELECT * FROM trades`,
		`SELECT a, b AS c, d 'e', t.* FROM t AS x JOIN u ON u.id = x.id LEFT OUTER JOIN (SELECT 1 AS id) s USING (id), v NATURAL JOIN w`,
		`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5) SELECT i FROM n`,
		`SELECT x FROM t WHERE a NOT BETWEEN 1 AND 2 AND b NOT LIKE 'x%' ESCAPE '\' AND c IS NOT DISTINCT FROM d AND e ISNULL AND f NOT NULL`,
		`SELECT CASE a WHEN 1 THEN 'x' ELSE 'y' END, CAST(b AS VARCHAR(10)), c COLLATE NOCASE, -d, ~e, +f FROM t`,
		`SELECT count(DISTINCT a) FILTER (WHERE b > 0), row_number() OVER (PARTITION BY c ORDER BY d) FROM t GROUP BY e HAVING count(*) > 1`,
		`SELECT a FROM t WHERE b IN (1, 2, 3) AND c IN (SELECT c FROM u) AND d IN () AND NOT EXISTS (SELECT 1 FROM v)`,
		`SELECT a FROM t ORDER BY a DESC NULLS LAST, 2 LIMIT 10 OFFSET ?1`,
		`SELECT a FROM t LIMIT 5, 10;`,
		`VALUES (1, 2), (3, 4)`,
		`SELECT a FROM t INDEXED BY i WHERE j -> '$.k' ->> 'l' = ?1`,
		`SELECT 1 UNION SELECT 2 INTERSECT SELECT 3 EXCEPT SELECT 4`,
	} {
		s, toks, err := parseSelect(q)
		if err != nil {
			t.Errorf("%s: %v", q, err)
			continue
		}
		if got := newText(q, toks).span(s.lo, s.hi); got != strings.TrimSuffix(q, ";") {
			t.Errorf("round trip\n got %s\nwant %s", got, q)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	for _, q := range []string{``, `INSERT INTO t VALUES (1)`, `SELECT 1; SELECT 2`, `SELECT (1`, `SELECT a FROM`, `SELECT a NOT`, strings.Repeat("(", 500)} {
		if _, _, err := parseSelect(q); !errors.Is(err, errUnsupported) {
			t.Errorf("%q: %v, want errUnsupported", q, err)
		}
	}
	if _, _, err := parseSelect("SELECT " + strings.Repeat("(", maxDepth+5) + "1" + strings.Repeat(")", maxDepth+5)); !errors.Is(err, errUnsupported) {
		t.Errorf("deep nesting: %v", err)
	}
}

func TestParsePrecedence(t *testing.T) {
	s, _, err := parseSelect(`SELECT 1 FROM t WHERE a = 1 OR b = 2 AND NOT c IN (1) AND d BETWEEN 1 AND 2 + 3`)
	if err != nil {
		t.Fatal(err)
	}
	w := s.cores[0].where
	if w.op != "OR" || w.args[1].op != "AND" {
		t.Fatalf("OR must bind loosest: %+v", w)
	}
	cs := conjuncts(w.args[1])
	if len(cs) != 3 || cs[1].kind != nUnary || cs[1].args[0].kind != nIn || cs[2].kind != nBetween || cs[2].args[2].op != "+" {
		t.Errorf("conjuncts: %d, kinds %v", len(cs), cs)
	}
}

func TestParameterNumbering(t *testing.T) {
	for q, want := range map[string]string{
		`SELECT a FROM t WHERE b = ? AND c = ?5 AND d = ?`:  `SELECT a FROM t WHERE b = ?1 AND c = ?5 AND d = ?6`,
		`SELECT a FROM t WHERE b = ?2 AND c = ? AND d = ?2`: `SELECT a FROM t WHERE b = ?2 AND c = ?3 AND d = ?2`,
		`SELECT a FROM t WHERE b = :x AND c = :x`:           `SELECT a FROM t WHERE b = :x AND c = :x`,
	} {
		_, toks, err := parseSelect(q)
		if err != nil {
			t.Fatal(err)
		}
		if got := newText(q, toks).span(0, len(toks)); got != want {
			t.Errorf("%s\n got %s\nwant %s", q, got, want)
		}
	}
	_, toks, _ := parseSelect(`SELECT a FROM t WHERE b = :x AND c = ?`)
	if !newText("SELECT a FROM t WHERE b = :x AND c = ?", toks).mixed {
		t.Error("named and positional parameters together must be refused")
	}
}

func TestSplice(t *testing.T) {
	q := "SELECT a, /* keep */ b FROM t WHERE c = ? -- end"
	_, toks, err := parseSelect(q)
	if err != nil {
		t.Fatal(err)
	}
	txt := newText(q, toks)
	// tokens: SELECT a , b FROM t WHERE c = ?
	got := txt.splice(0, len(toks), edit{1, 2, "x"}, edit{9, 10, "?1 + 1"}, edit{6, 6, "AS u"})
	if want := "SELECT x, /* keep */ b FROM t AS u WHERE c = ?1 + 1"; got != want {
		t.Errorf("splice\n got %s\nwant %s", got, want)
	}
}

func TestLikeHelpers(t *testing.T) {
	for _, c := range []struct {
		pat, op string
		esc     rune
		prefix  string
		exact   bool
	}{
		{"2026-06%", "LIKE", -1, "2026-06", false},
		{"a\\_b%", "LIKE", '\\', "a_b", false},
		{"abc", "LIKE", -1, "abc", true},
		{"ab_", "LIKE", -1, "ab", false},
		{"ab*", "GLOB", -1, "ab", false},
		{"a[bc]", "GLOB", -1, "a", false},
		{"x\\", "LIKE", '\\', "", false},
	} {
		p, exact := likeLiteralPrefix(c.pat, c.op, c.esc)
		if p != c.prefix || exact != c.exact {
			t.Errorf("%s %q: prefix %q exact %v, want %q %v", c.op, c.pat, p, exact, c.prefix, c.exact)
		}
	}
	for s, want := range map[string]string{"2026-06": "2026-07", "ab": "ac", "é": "ê", "\uD7FF": "\uE000"} {
		if got, ok := successor(s, false); !ok || got != want {
			t.Errorf("successor(%q) = %q, %v", s, got, ok)
		}
	}
	if _, ok := successor("a@", true); ok {
		t.Error("successor under NOCASE must refuse a bound that becomes a letter")
	}
	for s, want := range map[string]bool{"2026": true, "-": true, "1.5e": true, "2026-": false, "Inf": true, "abc": false} {
		if numberPrefix(s) != want {
			t.Errorf("numberPrefix(%q) != %v", s, want)
		}
	}
	for s, want := range map[string]bool{"2026": true, " 42 ": true, "1.": true, "1e5": true, "1e": false, "2026-06": false, ".": false, "-0.5": true} {
		if looksNumeric(s) != want {
			t.Errorf("looksNumeric(%q) != %v", s, want)
		}
	}
}

func TestPlanCost(t *testing.T) {
	scan := cost{scans: 1}
	search := cost{terms: 1}
	if !search.cheaper(scan) || scan.cheaper(search) || search.cheaper(search) {
		t.Error("a search must be cheaper than a scan, and nothing cheaper than itself")
	}
	if (cost{terms: 1, btrees: 1}).cheaper(scan) {
		t.Error("a search that adds a sort is not cheaper")
	}
	if !(cost{terms: 3}).cheaper(cost{terms: 1}) || !(cost{scans: 1}).cheaper(cost{scans: 1, correlated: 1}) {
		t.Error("more index constraints, or a correlated subquery gone, is cheaper")
	}
}
