package pg

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/quantumleap/qlsqlite/pg/internal/pgtest"
)

// srv is the PostgreSQL server the tests of this package share; each test
// gets a database of its own on it (newDB).
var srv *pgtest.Server

// TestMain starts the server, runs the tests, stops it, and checks that no
// goroutine is left behind.
func TestMain(m *testing.M) {
	// The slow-query log goes to slog's default logger: keep the output clean.
	slog.SetDefault(slog.New(slog.DiscardHandler))
	s, err := pgtest.Start(pgtest.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv = s
	code := m.Run()
	if err := s.Stop(); err != nil && code == 0 {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines left behind:", err)
			code = 1
		}
	}
	os.Exit(code)
}

var dbSeq atomic.Int64

// newDatabase creates a database of its own for t and returns its name.
func newDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d_%s", dbSeq.Add(1), strings.ToLower(strings.NewReplacer("/", "_", "#", "_").Replace(t.Name())))
	if len(name) > 60 {
		name = name[:60]
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := srv.CreateDB(ctx, name); err != nil {
		t.Fatal(err)
	}
	return name
}

// newDB opens a fresh database of t through qlpg, with qlsqlite's
// parameters in params ("_timeout=1s"), closed when t ends.
func newDB(t testing.TB, params ...string) (*sql.DB, string) {
	t.Helper()
	name := newDatabase(t)
	dsn := srv.URL(name, params...)
	db, err := sql.Open(DriverName, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, dsn
}

// mustExec runs statements, failing t on the first error.
func mustExec(t testing.TB, db interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.ExecContext(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}
