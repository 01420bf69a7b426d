package conformance_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib"
	"go.uber.org/goleak"

	_ "github.com/quantumleap/qlsqlite/pg"
	"github.com/quantumleap/qlsqlite/pg/internal/pgtest"
)

// drivers are the two drivers every case runs on: the raw one first.
var drivers = [...]string{"pgx", "qlpg"}

var srv *pgtest.Server

func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.DiscardHandler))
	s, err := pgtest.Start(pgtest.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv = s
	code := m.Run()
	s.Stop()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines left behind:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// An observer records what a case observes, in order.
type observer struct {
	t      *testing.T
	driver string
	lines  []string
}

// qlpg reports whether the case runs on qlpg.
func (o *observer) qlpg() bool { return o.driver == "qlpg" }

func (o *observer) see(format string, args ...any) {
	o.lines = append(o.lines, fmt.Sprintf(format, args...))
}

// seeErr records an error: its text, its SQLSTATE, and the context errors
// and database/sql errors it matches.
func (o *observer) seeErr(label string, err error) {
	if err == nil {
		o.see("%s: no error", label)
		return
	}
	var pe *pgconn.PgError
	code := ""
	if errors.As(err, &pe) {
		code = pe.Code
	}
	o.see("%s: %v [sqlstate %q, canceled %v, deadline %v, no rows %v, tx done %v]", label, err, code,
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), errors.Is(err, sql.ErrNoRows), errors.Is(err, sql.ErrTxDone))
}

func (o *observer) must(err error) {
	o.t.Helper()
	if err != nil {
		o.t.Fatalf("%s: %v", o.driver, err)
	}
}

var seq atomic.Int64

// openDB creates a fresh database and opens it on the named driver.
func openDB(t testing.TB, driverName string) *sql.DB {
	t.Helper()
	name := fmt.Sprintf("c%d", seq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := srv.CreateDB(ctx, name); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open(driverName, srv.URL(name))
	if err != nil {
		t.Fatalf("sql.Open(%q): %v", driverName, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// conform runs one case on both drivers, each on a fresh database, and
// fails unless both observed the same.
func conform(t *testing.T, name string, run func(o *observer, db *sql.DB)) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		var seen [len(drivers)][]string
		for i, d := range drivers {
			t.Run(d, func(t *testing.T) {
				o := &observer{t: t, driver: d}
				run(o, openDB(t, d))
				seen[i] = o.lines
			})
		}
		if t.Failed() {
			return
		}
		if len(seen[0]) == 0 {
			t.Fatal("the case observed nothing")
		}
		if diff := diffLines(seen[0], seen[1]); diff != "" {
			t.Errorf("%s and %s observed different results:\n%s", drivers[0], drivers[1], diff)
		}
	})
}

func diffLines(a, b []string) string {
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
			fmt.Fprintf(&sb, "  #%d\n    %s: %s\n    %s: %s\n", i, drivers[0], x, drivers[1], y)
		}
	}
	return sb.String()
}

// seeRows records every row of a query, each value with its Go type, and
// the columns with their database types.
func (o *observer) seeRows(label string, rows *sql.Rows, err error) {
	o.t.Helper()
	if err != nil {
		o.seeErr(label, err)
		return
	}
	defer rows.Close()
	cols, err := rows.ColumnTypes()
	o.must(err)
	for _, c := range cols {
		nullable, nok := c.Nullable()
		length, lok := c.Length()
		prec, scale, pok := c.DecimalSize()
		o.see("%s: column %s %s scan %v nullable %v/%v length %d/%v decimal %d,%d/%v", label, c.Name(), c.DatabaseTypeName(), c.ScanType(), nullable, nok, length, lok, prec, scale, pok)
	}
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
