package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quantumleap/qlsqlite"
)

func TestHealthCommand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trading #1.db") // a name that needs escaping in a URI
	// A rollback-journal database: health must not switch it to WAL.
	db, err := sql.Open(qlsqlite.DriverName, fileURI(path, "_defaults=off"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE t (n); INSERT INTO t VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	var out bytes.Buffer
	if err := run(context.Background(), []string{"health", "--db", path}, &out); err != nil {
		t.Fatalf("health: %v\n%s", err, out.String())
	}
	for _, want := range []string{path, "status:      ok", "integrity:   not checked", "database:    8.2 kB (2 pages of 4096 bytes), 0 free pages", "WAL:         0 B", "pool:", "breaker:     closed", "alerts:      not monitored"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("health output lacks %q:\n%s", want, out.String())
		}
	}
	if _, err := os.Stat(path + "-wal"); err == nil {
		t.Error("health left a WAL behind: it must not switch the journal mode")
	}

	// A damaged file: the report says why, and the command fails.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(bytes.Repeat([]byte{0xA5}, 4096), 4096) // page 2, the table's root
	f.Close()
	out.Reset()
	err = run(context.Background(), []string{"health", "--db", path, "--integrity"}, &out)
	if err == nil || !strings.Contains(err.Error(), "is failing") || !strings.Contains(out.String(), "status:      failing") {
		t.Errorf("health --integrity of a damaged file: %v\n%s", err, out.String())
	}

	for _, args := range [][]string{{"health"}, {"health", "--db", filepath.Join(t.TempDir(), "missing.db")}} {
		if err := run(context.Background(), args, &out); err == nil {
			t.Errorf("%v succeeded", args)
		}
	}
}

func TestDemoEndsWithStatsAndHealth(t *testing.T) {
	path := filepath.Join(t.TempDir(), "demo.db")
	var out bytes.Buffer
	args := []string{"demo", "--db", path, "--users", "50", "--trades", "2000", "--workers", "2", "--ops", "300", "--progress=false"}
	if err := run(context.Background(), args, &out); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	text := out.String()
	i := strings.Index(text, "per-fingerprint statistics")
	j := strings.Index(text, "health (qlsqlite.Health)")
	if i < 0 || j < i {
		t.Fatalf("the demo does not end with the statistics and the health report:\n%s", text)
	}
	table := text[i:j]
	for _, want := range []string{"calls", "p50", "p95", "p99", "rows", "SELECT * FROM trades WHERE symbol = ?"} {
		if !strings.Contains(table, want) {
			t.Errorf("the statistics table lacks %q:\n%s", want, table)
		}
	}
	// The statistics are the workload's: 300 operations, none of the loading
	// (the lifecycle part after the runs has a CREATE TABLE of its own, in
	// the archive, which a slow machine ranks among the top ten).
	if strings.Contains(table, "CREATE TABLE users") || strings.Contains(table, "INSERT INTO users") || !strings.Contains(table, "calls, ") {
		t.Errorf("the statistics include the loading, or lack the totals:\n%s", table)
	}
	// The health report is there and the database is sound. Whether a
	// latency alert fired depends on how busy the machine is, so "degraded"
	// (an alert) is as good as "ok" here; "failing" is not.
	health := text[j:]
	for _, want := range []string{"integrity:", "breaker:     closed", "alerts:"} {
		if !strings.Contains(health, want) {
			t.Errorf("the health report lacks %q:\n%s", want, health)
		}
	}
	if !strings.Contains(health, "status:      ok") && !strings.Contains(health, "status:      degraded") {
		t.Errorf("health:\n%s", health)
	}
}

// runCommand runs the qlsqlite command with args as a process of its own
// (the test binary, see TestMain) and returns its exit code, standard
// output and standard error.
func runCommand(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), "QLSQLITE_RUN_MAIN=1")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return code, out.String(), errOut.String()
}

// TestHealthCommandProcess runs `qlsqlite health` as a process: cheap by
// default (a damaged table goes unnoticed, exit 0), the full check with
// --integrity (exit 1, the problems on its output).
func TestHealthCommandProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trading.db")
	db, err := sql.Open(qlsqlite.DriverName, fileURI(path, "_defaults=off"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE sound (n); INSERT INTO sound VALUES (1); CREATE TABLE t (s TEXT); CREATE INDEX t_s ON t (s);
		WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 500)
		INSERT INTO t SELECT printf('%0100d', x) FROM c`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	// Five tables: sound, t, sqlite_schema, and sqlite_stat1 and 4 that
	// PRAGMA optimize made when the program above closed the database.
	code, out, errOut := runCommand(t, "health", "--db", path, "--integrity")
	if code != 0 || !strings.Contains(out, "status:      ok") || !strings.Contains(out, "integrity:   ok: 5 tables checked") {
		t.Fatalf("health --integrity of a sound file: exit %d\n%s%s", code, out, errOut)
	}

	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(bytes.Repeat([]byte{0xA5}, 4096), 2*4096) // page 3, t's root
	f.Close()

	code, out, errOut = runCommand(t, "health", "--db", path)
	if code != 0 || !strings.Contains(out, "status:      ok") || !strings.Contains(out, "integrity:   not checked") {
		t.Errorf("health of a damaged file, without --integrity: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCommand(t, "health", "--db", path, "--integrity")
	if code != 1 || !strings.Contains(out, "status:      failing") || !strings.Contains(out, "integrity:   ") ||
		!strings.Contains(out, "problems in 5 tables checked") || !strings.Contains(out, "t: ") || !strings.Contains(errOut, "is failing") {
		t.Errorf("health --integrity of a damaged file: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := runCommand(t, "health", "--integrity"); code != 2 || !strings.Contains(errOut, "--db FILE is required") {
		t.Errorf("health without --db: exit %d, %s", code, errOut)
	}
}
