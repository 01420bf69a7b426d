package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
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
	for _, want := range []string{path, "status:      ok", "quick_check: ok", "database:    8.2 kB (2 pages of 4096 bytes), 0 free pages", "WAL:         0 B", "pool:", "breaker:     closed", "alerts:      not monitored"} {
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
	err = run(context.Background(), []string{"health", "--db", path}, &out)
	if err == nil || !strings.Contains(err.Error(), "is failing") || !strings.Contains(out.String(), "status:      failing") {
		t.Errorf("health of a damaged file: %v\n%s", err, out.String())
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
	// The statistics are the workload's (300 operations, then the archive and
	// the backup, some 750 calls), none of the loading's 2000 trade inserts.
	// Which statements make the top ten depends on the machine's speed.
	k := strings.Index(table, " calls, ")
	if k < 0 {
		t.Fatalf("the statistics lack the totals:\n%s", table)
	}
	var calls int
	if _, err := fmt.Sscan(table[strings.LastIndexByte(table[:k], '\n')+1:k], &calls); err != nil || calls >= 2000 {
		t.Errorf("the statistics count %d calls (%v): they include the loading's:\n%s", calls, err, table)
	}
	// The health report is there and the database is sound. Whether a
	// latency alert fired depends on how busy the machine is, so "degraded"
	// (an alert) is as good as "ok" here; "failing" is not.
	health := text[j:]
	for _, want := range []string{"quick_check: ok", "breaker:     closed", "alerts:"} {
		if !strings.Contains(health, want) {
			t.Errorf("the health report lacks %q:\n%s", want, health)
		}
	}
	if !strings.Contains(health, "status:      ok") && !strings.Contains(health, "status:      degraded") {
		t.Errorf("health:\n%s", health)
	}
}
