package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/quantumleap/qlsqlite/pg/internal/pgtest"
	"go.uber.org/goleak"
)

var srv *pgtest.Server

// TestMain starts the tests' PostgreSQL, and after them checks that no
// goroutine is left behind.
func TestMain(m *testing.M) {
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

// The demo loads the schema, runs the workload, advises the indexes the
// platform needs (through hypopg), applies them, and runs it again; run
// twice on the same database, it recreates its own tables.
func TestDemoOnPostgreSQL(t *testing.T) {
	ctx := context.Background()
	if err := srv.CreateDB(ctx, "demo"); err != nil {
		t.Fatal(err)
	}
	if err := srv.Exec(ctx, "demo", `CREATE EXTENSION hypopg`); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		var out bytes.Buffer
		err := run(ctx, []string{"demo", "--db", srv.URL("demo"), "--users", "200", "--trades", "50000", "--workers", "4", "--ops", "300"}, &out)
		if err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
		s := out.String()
		for _, want := range []string{"schema: migrated", "index advice (hypopg", `ON "trades" ("symbol", "timestamp")`, "applied.", "with the advised indexes", "health (qlsqlite.Health): ok"} {
			if !strings.Contains(s, want) {
				t.Errorf("the output lacks %q:\n%s", want, s)
			}
		}
		if strings.Contains(s, " failed\n") && !strings.Contains(s, ", 0 failed") {
			t.Errorf("operations failed:\n%s", s)
		}
	}
	// A database that is not the demo's is refused.
	if err := srv.CreateDB(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	if err := srv.Exec(ctx, "other", `CREATE TABLE precious (id int)`); err != nil {
		t.Fatal(err)
	}
	err := run(ctx, []string{"demo", "--db", srv.URL("other"), "--ops", "10"}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "not the demo's") {
		t.Fatalf("demo on a database with other tables: %v", err)
	}
}
