package conformance_test

import (
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ncruces/go-sqlite3"
	_ "github.com/ncruces/go-sqlite3/driver"
	_ "github.com/quantumleap/qlsqlite"
)

// configs are what every case runs on: the raw driver first, then qlsqlite,
// then qlsqlite with group commit on (its DSN parameter is added to the
// case's own), which must observe the same.
var configs = [...]struct{ name, driver, param string }{
	{"sqlite3", "sqlite3", ""},
	{"qlsqlite", "qlsqlite", ""},
	{"qlsqlite_group_commit", "qlsqlite", "_group_commit=on"},
}

// withParam adds the DSN parameter p (if any) to params.
func withParam(params, p string) string {
	switch {
	case p == "":
		return params
	case params == "":
		return "?" + p
	}
	return params + "&" + p
}

// An observer records what a case observes, in order.
type observer struct {
	t      *testing.T
	driver string
	lines  []string
}

// qlsqlite reports whether the case runs on qlsqlite.
func (o *observer) qlsqlite() bool { return o.driver == "qlsqlite" }

// see records one observation.
func (o *observer) see(format string, args ...any) {
	o.lines = append(o.lines, fmt.Sprintf(format, args...))
}

// errorCodes are the SQLite error codes an observed error is matched against.
var errorCodes = []struct {
	name string
	code error
}{
	{"ERROR", sqlite3.ERROR},
	{"BUSY", sqlite3.BUSY},
	{"INTERRUPT", sqlite3.INTERRUPT},
	{"READONLY", sqlite3.READONLY},
	{"CONSTRAINT", sqlite3.CONSTRAINT},
	{"CONSTRAINT_UNIQUE", sqlite3.CONSTRAINT_UNIQUE},
	{"CONSTRAINT_PRIMARYKEY", sqlite3.CONSTRAINT_PRIMARYKEY},
	{"CONSTRAINT_FOREIGNKEY", sqlite3.CONSTRAINT_FOREIGNKEY},
	{"CONSTRAINT_NOTNULL", sqlite3.CONSTRAINT_NOTNULL},
	{"CONSTRAINT_CHECK", sqlite3.CONSTRAINT_CHECK},
	{"MISUSE", sqlite3.MISUSE},
	{"RANGE", sqlite3.RANGE},
}

// seeErr records an error: its text and every SQLite code it matches.
func (o *observer) seeErr(label string, err error) {
	if err == nil {
		o.see("%s: no error", label)
		return
	}
	o.see("%s: %v %s", label, err, matches(err))
}

// seeErrCodes records only which SQLite codes an error matches, for errors
// whose text qlsqlite deliberately extends.
func (o *observer) seeErrCodes(label string, err error) {
	if err == nil {
		o.see("%s: no error", label)
		return
	}
	o.see("%s: %s", label, matches(err))
}

func matches(err error) string {
	var is []string
	for _, c := range errorCodes {
		if errors.Is(err, c.code) {
			is = append(is, c.name)
		}
	}
	return "[is " + strings.Join(is, " ") + "]"
}

// must fails the case on an unexpected error.
func (o *observer) must(err error) {
	o.t.Helper()
	if err != nil {
		o.t.Fatalf("%s: %v", o.driver, err)
	}
}

// openDB opens a fresh database file on the named driver; params are
// appended to its file: URI.
func openDB(t testing.TB, driverName, params string) *sql.DB {
	t.Helper()
	dsn := "file:" + filepath.Join(t.TempDir(), "conformance.db") + params
	db, err := sql.Open(driverName, dsn)
	if err != nil {
		t.Fatalf("sql.Open(%q, %q): %v", driverName, dsn, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// conform runs one case on every configuration, each on a fresh database
// file, and fails unless all observed the same.
func conform(t *testing.T, name string, run func(o *observer, db *sql.DB)) {
	conformDSN(t, name, "", run)
}

// conformDSN is conform with DSN parameters (for example "?_txlock=exclusive").
func conformDSN(t *testing.T, name, params string, run func(o *observer, db *sql.DB)) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		var seen [len(configs)][]string
		for i, c := range configs {
			t.Run(c.name, func(t *testing.T) {
				o := &observer{t: t, driver: c.driver}
				run(o, openDB(t, c.driver, withParam(params, c.param)))
				seen[i] = o.lines
			})
		}
		if t.Failed() {
			return
		}
		if len(seen[0]) == 0 {
			t.Fatal("the case observed nothing")
		}
		for i := 1; i < len(configs); i++ {
			if diff := diffLines(configs[0].name, configs[i].name, seen[0], seen[i]); diff != "" {
				t.Errorf("%s and %s observed different results:\n%s", configs[0].name, configs[i].name, diff)
			}
		}
	})
}

func diffLines(nameA, nameB string, a, b []string) string {
	var sb strings.Builder
	for i := range max(len(a), len(b)) {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			fmt.Fprintf(&sb, "  #%d\n    %s: %s\n    %s: %s\n", i, nameA, x, nameB, y)
		}
	}
	return sb.String()
}

// seeRows records every row of a query, each value with its Go type.
func (o *observer) seeRows(label string, rows *sql.Rows, err error) {
	o.t.Helper()
	if err != nil {
		o.seeErr(label, err)
		return
	}
	defer rows.Close()
	cols, err := rows.Columns()
	o.must(err)
	o.see("%s: columns %q", label, cols)
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	n := 0
	for rows.Next() {
		o.must(rows.Scan(ptrs...))
		o.see("%s: row %d %s", label, n, typed(vals...))
		n++
	}
	o.seeErr(label+": rows.Err", rows.Err())
}

// typed formats values with their Go types.
func typed(vals ...any) string {
	parts := make([]string, len(vals))
	for i, v := range vals {
		parts[i] = fmt.Sprintf("%T(%#v)", v, v)
	}
	return strings.Join(parts, ", ")
}

// seeResult records rows affected and the last insert id.
func (o *observer) seeResult(label string, res sql.Result, err error) {
	if err != nil {
		o.seeErr(label, err)
		return
	}
	id, idErr := res.LastInsertId()
	n, nErr := res.RowsAffected()
	o.see("%s: last insert id %d (%v), rows affected %d (%v)", label, id, idErr, n, nErr)
}
