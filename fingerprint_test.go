package qlsqlite

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

func TestFingerprintText(t *testing.T) {
	tests := []struct{ query, want string }{
		{`select * from trades where symbol = 'AAPL' and timestamp >= '2026-01-01' order by timestamp desc limit 50`,
			`SELECT * FROM trades WHERE symbol = ? AND timestamp >= ? ORDER BY timestamp DESC LIMIT ?`},
		{"SELECT quantity,average_cost\n\tFROM portfolio -- position\nWHERE user_id=:u AND symbol=$s",
			`SELECT quantity, average_cost FROM portfolio WHERE user_id = ? AND symbol = ?`},
		{`SELECT * FROM t WHERE id IN (1, 2, 3, -4)`, `SELECT * FROM t WHERE id IN (?)`},
		{`SELECT * FROM t WHERE id in (?1,?2)`, `SELECT * FROM t WHERE id IN (?)`},
		{`SELECT count(*), max(x) /* a comment */ FROM t WHERE x = -1.5e3 OR x = x - 1`,
			`SELECT count(*), max(x) FROM t WHERE x = ? OR x = x - ?`},
		{`INSERT INTO "t" (a, b) VALUES (x'00ff', 'it''s')`, `INSERT INTO "t" (a, b) VALUES (?, ?)`},
		{`UPDATE orders SET status = @s WHERE id = 0x1F`, `UPDATE orders SET status = ? WHERE id = ?`},
		{`SELECT a.b FROM [my table] AS a WHERE a.c IS NOT NULL`, `SELECT a.b FROM [my table] AS a WHERE a.c IS NOT NULL`},
		{`SELECT 1; SELECT 2`, `SELECT ?; SELECT ?`},
		{``, ``},
		{`   -- only a comment`, ``},
	}
	for _, tt := range tests {
		if got := FingerprintOf(tt.query).Text; got != tt.want {
			t.Errorf("FingerprintOf(%q)\n got  %q\n want %q", tt.query, got, tt.want)
		}
	}
}

func TestFingerprintID(t *testing.T) {
	a := FingerprintOf(`SELECT * FROM t WHERE a = 1 AND b IN (1,2)`)
	b := FingerprintOf(`select *   from t where a = 99 and b in (7)`)
	c := FingerprintOf(`SELECT * FROM t WHERE a = 1 OR b IN (1,2)`)
	if a != b {
		t.Errorf("queries differing in literals: %v and %v", a, b)
	}
	if a.ID == c.ID {
		t.Errorf("different queries share ID %s", a.ID)
	}
	if len(a.ID) == 0 || a.ID != FingerprintOf(a.Text).ID {
		t.Errorf("the ID of a fingerprint's text differs: %s", a.ID)
	}
}

func TestMayChangeSchema(t *testing.T) {
	for q, want := range map[string]bool{
		`CREATE TABLE t (n)`:                             true,
		`  -- migration` + "\n" + `drop index i`:         true,
		`INSERT INTO t VALUES (1); ALTER TABLE t ADD c`:  true,
		`ATTACH 'x.db' AS x`:                             true,
		`pragma foreign_keys = off`:                      true,
		`SELECT 'CREATE TABLE' FROM t`:                   false,
		`INSERT INTO t (create_time) VALUES (?)`:         false,
		`SELECT * FROM t WHERE name = 'a; DROP TABLE t'`: false,
		`UPDATE t SET x = 1`:                             false,
	} {
		if got := mayChangeSchema(q); got != want {
			t.Errorf("mayChangeSchema(%q) = %v", q, got)
		}
	}
}

// FuzzFingerprint checks that normalizing never panics and is idempotent.
func FuzzFingerprint(f *testing.F) {
	for _, s := range []string{
		`SELECT * FROM trades WHERE symbol = ? AND timestamp >= ? ORDER BY timestamp DESC LIMIT 50`,
		`INSERT INTO t VALUES (x'00', 'a''b', -1.5e-3, :n, @m, $o, ?7)`,
		`SELECT "unterminated`, `/* open comment`, `- -1`, `x IN (1, -2, +3)`, `[a`, "\x80\xff;\x00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		fp := FingerprintOf(q)
		if again := FingerprintOf(fp.Text); again != fp {
			t.Errorf("not idempotent:\n query %q\n once  %q\n twice %q", q, fp.Text, again.Text)
		}
	})
}

// FuzzFingerprintLiterals checks that queries differing only in literal
// values share a fingerprint.
func FuzzFingerprintLiterals(f *testing.F) {
	f.Add(int64(1), "AAPL", 1.5, int64(2), "MSFT", -3.25)
	f.Fuzz(func(t *testing.T, i1 int64, s1 string, f1 float64, i2 int64, s2 string, f2 float64) {
		if math.IsNaN(f1) || math.IsInf(f1, 0) || math.IsNaN(f2) || math.IsInf(f2, 0) {
			return // not SQL literals
		}
		q := func(i int64, s string, f float64) string {
			return fmt.Sprintf(`SELECT * FROM trades WHERE id = %d AND symbol = '%s' AND price > %v AND side IN ('a', %d) LIMIT %d`,
				i, strings.ReplaceAll(s, "'", "''"), f, i, i)
		}
		a, b := FingerprintOf(q(i1, s1, f1)), FingerprintOf(q(i2, s2, f2))
		if a != b {
			t.Errorf("literals changed the fingerprint:\n %q\n %q", a.Text, b.Text)
		}
	})
}
