package advise

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	_ "github.com/ncruces/go-sqlite3/driver"
)

// openDB opens a new database file in a temporary directory with the raw
// ncruces driver and runs schema on it.
func openDB(t testing.TB, schema string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.ToSlash(filepath.Join(t.TempDir(), "test.db"))+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if schema != "" {
		if _, err := db.Exec(schema); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// fill inserts n rows with args(i) in one transaction.
func fill(t testing.TB, db *sql.DB, query string, n int, args func(i int) []any) {
	t.Helper()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	stmt, err := tx.Prepare(query)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := stmt.Exec(args(i)...); err != nil {
			t.Fatal(err)
		}
	}
	stmt.Close()
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// items is a table of 3000 rows: a has 300 distinct values, b 30, c is
// unique, d is unique and unordered, e has 3 values.
const itemsSchema = `CREATE TABLE items (id INTEGER PRIMARY KEY, a INTEGER, b INTEGER, c INTEGER, d REAL, e TEXT, note TEXT)`

func itemsDB(t testing.TB) *sql.DB {
	db := openDB(t, itemsSchema)
	rng := rand.New(rand.NewPCG(7, 7))
	fill(t, db, `INSERT INTO items (a, b, c, d, e, note) VALUES (?, ?, ?, ?, ?, ?)`, 3000, func(i int) []any {
		return []any{rng.IntN(300), rng.IntN(30), i, rng.Float64(), []string{"red", "green", "blue"}[i%3], fmt.Sprint("note ", i)}
	})
	return db
}

func analyzeT(t testing.TB, db *sql.DB, opts Options, queries ...string) Report {
	t.Helper()
	var qs []Query
	for _, q := range queries {
		qs = append(qs, Query{SQL: q})
	}
	rep, err := Analyze(context.Background(), db, qs, opts)
	if err != nil {
		t.Fatalf("Analyze: %v", err)
	}
	return rep
}

// adviceOn returns the advice on table whose columns are cols, or nil.
func adviceOn(rep Report, table string, cols ...string) *Advice {
	for i, a := range rep.Advice {
		if a.Table == table && slices.Equal(a.Columns, cols) {
			return &rep.Advice[i]
		}
	}
	return nil
}

func describe(rep Report) string {
	var b strings.Builder
	for _, a := range rep.Advice {
		fmt.Fprintf(&b, "%s\n", a.CreateSQL)
		for _, q := range a.Queries {
			fmt.Fprintf(&b, "  %s\n  before:\n%s\n  after:\n%s\n", q.SQL, q.Before, q.After)
		}
	}
	for _, q := range rep.Queries {
		fmt.Fprintf(&b, "query %s (err %v, note %q)\n%s\n=>\n%s\n", q.SQL, q.Err, q.Note, q.Before, q.After)
	}
	return b.String()
}

// scans lists the tables (aliases) p reads in full.
func scans(p Plan) []string {
	var out []string
	for _, r := range p {
		if _, alias := loopAlias(r.Detail); fullScan(r.Detail) && !slices.Contains(out, alias) {
			out = append(out, alias)
		}
	}
	return out
}

// realPlan creates the advised indexes in db (a copy of what ApplyAdvice
// does, without its ANALYZE) and returns query's plan in db.
func applyAndExplain(t testing.TB, db *sql.DB, rep Report, query string) Plan {
	t.Helper()
	for _, a := range rep.Advice {
		if _, err := db.Exec(a.CreateSQL); err != nil {
			t.Fatal(err)
		}
	}
	p, err := Explain(context.Background(), db, query)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
