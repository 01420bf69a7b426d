package qlsqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
	_ "github.com/ncruces/go-sqlite3/driver"
)

// A cached statement's rows convert values by the declared types SQLite
// read when it last prepared the statement. When another process changes a
// column's declared type and keeps its name, SQLite re-prepares the cached
// statement on its first step, and its values are converted by the new
// type: the same text is a string in a TEXT column, a time in a DATETIME
// one.
func TestRowsFollowRetypedColumn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "retype.db")
	db, err := sql.Open(DriverName, "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const at = "2026-01-02T03:04:05Z"
	if _, err := conn.ExecContext(ctx, `CREATE TABLE t (a TEXT); INSERT INTO t VALUES ('`+at+`')`); err != nil {
		t.Fatal(err)
	}
	read := func() any {
		t.Helper()
		var v any
		if err := conn.QueryRowContext(ctx, `SELECT a FROM t WHERE rowid > ?`, 0).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	for range 2 { // a miss, then a hit of the cached statement
		if v, ok := read().(string); !ok || v != at {
			t.Fatalf("TEXT column: %T %v, want the string %s", v, v, at)
		}
	}

	other, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Exec(`DROP TABLE t; CREATE TABLE t (a DATETIME); INSERT INTO t VALUES ('` + at + `')`); err != nil {
		t.Fatal(err)
	}
	want, _ := time.Parse(time.RFC3339, at)
	for range 2 {
		if v, ok := read().(time.Time); !ok || !v.Equal(want) {
			t.Errorf("DATETIME column after the change elsewhere: %T %v, want the time %v", v, v, want)
		}
	}
}

// Reading a cached statement's rows costs no allocation per result column
// and query: the names and declared types are read once per statement, and
// each query gets one copy of the names. (ncruces's own rows allocate a
// string per name and per declared type on every query.)
func TestRowsAllocateNothingPerColumn(t *testing.T) {
	p := pin(t, "?_stats=0&_trace=0&_metrics=0&_slow=0")
	p.exec(`CREATE TABLE t (` + columns(24, "c%d INTEGER") + `)`)
	p.exec(`INSERT INTO t VALUES (` + columns(24, "%d") + `)`)
	allocs := func(n int) float64 {
		query := `SELECT ` + columns(n, "c%d") + ` FROM t WHERE rowid > ?`
		vals := make([]any, n)
		ptrs := make([]any, n)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		run := func() {
			if err := p.conn.QueryRowContext(p.ctx, query, 0).Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
		}
		run() // prepared and cached
		return testing.AllocsPerRun(200, run)
	}
	few, many := allocs(2), allocs(24)
	// The values are small integers, which need no allocation either; a
	// little slack for allocations of other goroutines during the runs.
	if many-few > 3 {
		t.Errorf("a query of 24 columns allocates %.0f times, one of 2 columns %.0f times: %.0f more, want none per column", many, few, many-few)
	}
}

// columns formats n comma-separated items from format, numbered from 0.
func columns(n int, format string) string {
	items := make([]string, n)
	for i := range items {
		items[i] = fmt.Sprintf(format, i)
	}
	return strings.Join(items, ", ")
}

// A DATETIME column holding SQLite's own times ("2006-01-02 15:04:05",
// CURRENT_TIMESTAMP's) is read without a parse allocating: ncruces's
// TimeFormatAuto tries two numbers and seven layouts before the one that
// fits, each failure allocating its error (rows.go, sqliteTimeShape).
func TestRowsReadSQLiteTimesWithoutAllocating(t *testing.T) {
	p := pin(t, "?_stats=0&_trace=0&_metrics=0&_slow=0")
	p.exec(`CREATE TABLE t (` + columns(24, "c%d DATETIME") + `)`)
	p.exec(`INSERT INTO t VALUES (` + columns(24, "'2026-12-02 07:%02d:00'") + `)`)
	allocs := func(n int) float64 {
		query := `SELECT ` + columns(n, "c%d") + ` FROM t WHERE rowid > ?`
		vals := make([]time.Time, n)
		ptrs := make([]any, n)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		run := func() {
			if err := p.conn.QueryRowContext(p.ctx, query, 0).Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
		}
		run() // prepared and cached
		if want := time.Date(2026, 12, 2, 7, n-1, 0, 0, time.UTC); !vals[n-1].Equal(want) {
			t.Fatalf("column %d read as %v, want %v", n-1, vals[n-1], want)
		}
		return testing.AllocsPerRun(200, run)
	}
	// Two per value remain, neither a parse's: ncruces's ColumnsRaw puts
	// the text's []byte in an any, and the time goes in a driver.Value.
	// TimeFormatAuto alone costs some 40 per value.
	few, many := allocs(2), allocs(24)
	if perValue := (many - few - 3) / 22; perValue > 2 {
		t.Errorf("a query of 24 DATETIME columns allocates %.0f times, one of 2 columns %.0f times: more than 2 per value (%.1f), want 2", many, few, perValue)
	}
}

// sqliteTime reads every text of SQLite's time shape as time.Parse with
// that layout does: the same time, or no time where time.Parse fails (a
// month, day, hour, minute or second out of range, February 29 of a
// common year).
func TestSQLiteTimeIsTimeParse(t *testing.T) {
	texts := []string{
		"2026-12-02 18:51:07", "0000-01-01 00:00:00", "9999-12-31 23:59:59",
		"2024-02-29 12:00:00", "2023-02-29 12:00:00", "1900-02-29 00:00:00", "2000-02-29 00:00:00",
		"2026-04-31 00:00:00", "2026-13-01 00:00:00", "2026-00-10 00:00:00", "2026-01-00 00:00:00",
		"2026-01-01 24:00:00", "2026-01-01 23:60:00", "2026-01-01 23:59:60", "2026-01-32 00:00:00",
	}
	r := rand.New(rand.NewPCG(1, 2))
	digits := func(n, limit int) string { return fmt.Sprintf("%0*d", n, r.IntN(limit)) }
	for range 20000 { // digits anywhere, in and out of range
		texts = append(texts, digits(4, 10000)+"-"+digits(2, 15)+"-"+digits(2, 34)+" "+digits(2, 26)+":"+digits(2, 62)+":"+digits(2, 62))
	}
	for _, text := range texts {
		if !sqliteTimeShape([]byte(text)) {
			t.Fatalf("%q: not of SQLite's time shape", text)
		}
		want, err := time.Parse(string(sqlite3.TimeFormat3), text)
		got, ok := sqliteTime([]byte(text))
		if ok != (err == nil) || ok && (!got.Equal(want) || got.Location() != want.Location() || got != want) {
			t.Errorf("%q: sqliteTime %v %v, time.Parse %v %v", text, got, ok, want, err)
		}
	}
}
