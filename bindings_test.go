package qlsqlite

import (
	"database/sql"
	"strings"
	"testing"

	_ "github.com/ncruces/go-sqlite3/driver"
)

// An argument a query leaves out is NULL, as with ncruces, although the
// cached statement kept the previous query's arguments bound.
func TestArgumentLeftOutIsNull(t *testing.T) {
	for _, name := range []string{"sqlite3", DriverName} {
		t.Run(name, func(t *testing.T) {
			db, err := sql.Open(name, "file:"+t.TempDir()+"/b.db")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			db.SetMaxOpenConns(1) // one connection: one cached statement
			const q = `SELECT :a, :b`
			var a, b sql.NullInt64
			if err := db.QueryRow(q, sql.Named("a", 1), sql.Named("b", 2)).Scan(&a, &b); err != nil {
				t.Fatal(err)
			}
			if err := db.QueryRow(q, sql.Named("a", 3)).Scan(&a, &b); err != nil {
				t.Fatal(err)
			}
			if a.Int64 != 3 || b.Valid {
				t.Errorf("second query: a=%v b=%v, want a=3 and b NULL (the first query's b leaked)", a, b)
			}
			// Positional parameters rebound by name bind nothing: NULL too.
			const p = `SELECT ?, ?`
			if err := db.QueryRow(p, 1, 2).Scan(&a, &b); err != nil {
				t.Fatal(err)
			}
			if err := db.QueryRow(p, sql.Named("x", 5), sql.Named("y", 6)).Scan(&a, &b); err != nil {
				t.Fatal(err)
			}
			if a.Valid || b.Valid {
				t.Errorf("named arguments for positional parameters: a=%v b=%v, want both NULL", a, b)
			}
		})
	}
}

// Small arguments stay bound after their rows close (the next run
// replaces them: no sqlite3_clear_bindings per query); a large string is
// cleared at once, so that the statement does not hold it.
func TestSmallArgumentsStayBoundUntilReplaced(t *testing.T) {
	p := pin(t, "")
	p.exec(`CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)`)
	const q = `SELECT count(*) FROM t WHERE k = ? AND v > ?`
	left := func(args ...any) bool {
		var n int
		if err := p.conn.QueryRowContext(p.ctx, q, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		s, ok := p.inner().stmts.lru.Peek(q)
		if !ok {
			t.Fatal("the statement is not cached")
		}
		return s.boundLeft
	}
	if !left("short", 1) {
		t.Error("small arguments were cleared when the rows closed")
	}
	if left(strings.Repeat("x", maxKeptBinding+1), 1) {
		t.Error("a large string stayed bound after its rows closed")
	}
	if !left("short", 2) {
		t.Error("small arguments were cleared when the rows closed")
	}
}
