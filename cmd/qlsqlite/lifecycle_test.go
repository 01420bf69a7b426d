package main

import (
	"bytes"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quantumleap/qlsqlite/internal/trading"
	"github.com/quantumleap/qlsqlite/lifecycle"
)

// tradingFile writes a closed trading database with 300 trades from 2024
// and 200 from 2025 and returns its path.
func tradingFile(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "trading db.db") // a space, to exercise the URI
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "trading%20db.db")+"?_pragma=journal_mode(wal)")
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(trading.Schema + `
		INSERT INTO users (id, name) VALUES ('u1', 'Ada');
		WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 500)
		INSERT INTO trades (user_id, symbol, quantity, price, side, timestamp)
		SELECT 'u1', 'SYM' || (x % 9), x, 100 + x, 'buy',
		       CASE WHEN x <= 300 THEN datetime('2024-01-01', '+' || x || ' hours') ELSE datetime('2025-01-01', '+' || x || ' hours') END
		FROM c`)
	if err == nil {
		err = db.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLifecycleCommands(t *testing.T) {
	dir := t.TempDir()
	dbPath := tradingFile(t, dir)
	archive := filepath.Join(dir, "archive.db")
	backup := filepath.Join(dir, "backup.db")

	const text = "-column timestamp holds ISO-8601 text; the cutoff was compared as such\n"
	out, err := runCLI(t, "archive", "-db", dbPath, "-table", "trades", "-before", "2025-01-01", "-dry-run")
	if err != nil || out != text+"dry run: 300 rows of trades match; nothing was changed\n" {
		t.Fatalf("archive -dry-run: %q, %v", out, err)
	}
	out, err = runCLI(t, "archive", "-db", dbPath, "-table", "trades", "-before", "2025-01-01", "-to", archive, "-batch", "64", "-progress=false")
	if err != nil || !strings.HasPrefix(out, text+"archived 300 rows of trades into "+archive) {
		t.Fatalf("archive: %q, %v", out, err)
	}
	out, err = runCLI(t, "purge", "-db", dbPath, "-table", "trades", "-where", "symbol = ?", "-arg", "SYM0", "-before", "2026-01-01", "-dry-run")
	if err != nil || out != text+"dry run: 22 rows of trades match; nothing was deleted\n" {
		t.Fatalf("purge -dry-run: %q, %v", out, err)
	}
	out, err = runCLI(t, "purge", "-db", dbPath, "-table", "trades", "-where", "symbol = ?", "-arg", "SYM0", "-before", "2026-01-01", "-progress=false")
	if err != nil || !strings.HasPrefix(out, text+"purged 22 rows of trades in 1 batches") {
		t.Fatalf("purge: %q, %v", out, err)
	}
	out, err = runCLI(t, "backup", "-db", dbPath, "-to", backup, "-progress=false")
	if err != nil || !strings.HasPrefix(out, "backed up "+dbPath+" to "+backup) {
		t.Fatalf("backup: %q, %v", out, err)
	}

	junk := filepath.Join(dir, "junk.db")
	os.WriteFile(junk, bytes.Repeat([]byte("junk"), 100), 0o644)
	out, err = runCLI(t, "verify", backup, archive, junk)
	if err == nil || err.Error() != "verify: 1 of 3 files failed" {
		t.Errorf("verify: err %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || lines[0] != "ok        "+backup || lines[1] != "ok        "+archive || !strings.HasPrefix(lines[2], "not-a-db  "+junk+": ") {
		t.Errorf("verify printed:\n%s", out)
	}

	restored := filepath.Join(dir, "restored.db")
	out, err = runCLI(t, "restore", "-from", backup, "-to", restored)
	if err != nil || out != "restored "+restored+" from "+backup+" (verified)\n" {
		t.Fatalf("restore: %q, %v", out, err)
	}
	db, err := sql.Open("sqlite3", restored)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM trades WHERE timestamp >= '2025-01-01'`).Scan(&n); err != nil || n != 178 {
		t.Errorf("restored database holds %d trades of 2025 (%v), want 200 - 22 purged", n, err)
	}
	_, err = runCLI(t, "restore", "-from", junk, "-to", restored)
	if !errors.Is(err, lifecycle.ErrNotDatabase) {
		t.Errorf("restore from junk: %v, want ErrNotDatabase", err)
	}
}

func TestLifecycleCommandErrors(t *testing.T) {
	dir := t.TempDir()
	dbPath := tradingFile(t, dir)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"archive", "-table", "trades", "-before", "2025-01-01", "-to", "a.db"}, "-db and -table are required"},
		{[]string{"archive", "-db", dbPath, "-table", "trades", "-to", "a.db"}, "give -before"},
		{[]string{"archive", "-db", dbPath, "-table", "trades", "-before", "last tuesday", "-to", "a.db"}, `-before "last tuesday" is neither`},
		{[]string{"archive", "-db", dbPath, "-table", "trades", "-before", "2025-01-01"}, "-to is required"},
		{[]string{"archive", "-db", filepath.Join(dir, "nope.db"), "-table", "trades", "-before", "1d", "-to", "a.db"}, "no such file"},
		{[]string{"archive", "-db", dbPath, "-table", "trades", "-column", "when", "-before", "1d", "-dry-run"}, `no such column: "when"`},
		{[]string{"purge", "-db", dbPath, "-table", "users", "-before", "1d"}, `no such column: "timestamp" (its columns: id, name, created_at); name the time column with -column`},
		{[]string{"purge", "-db", dbPath, "-table", "nope", "-where", "true"}, "no such table"},
		{[]string{"backup", "-db", dbPath}, "-db and -to are required"},
		{[]string{"verify"}, "name at least one database file"},
		{[]string{"restore", "-to", dbPath}, "-from and -to are required"},
	} {
		if _, err := runCLI(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestParseCutoff(t *testing.T) {
	now := time.Date(2025, 6, 15, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"2025-01-02":           time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC),
		"2025-01-02 03:04:05":  time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		"2025-01-02T03:04:05Z": time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		"90d":                  now.AddDate(0, 0, -90),
		"36h":                  now.Add(-36 * time.Hour),
	} {
		got, err := parseCutoff(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseCutoff(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

func TestProgressBarRendersToTheGivenWriter(t *testing.T) {
	var buf bytes.Buffer
	bar := newBar(&buf, true, 200, "archiving trades")
	bar.Set(200)
	bar.Finish()
	if out := buf.String(); !strings.Contains(out, "archiving trades") || !strings.Contains(out, "200/200") {
		t.Errorf("bar rendered %q", out)
	}
	var hidden bytes.Buffer
	quiet := newBar(&hidden, false, 10, "x")
	quiet.Set(10)
	quiet.Finish()
	if hidden.Len() != 0 {
		t.Errorf("a hidden bar rendered %q", hidden.String())
	}
}

// eventsFile writes a database whose events table keeps its time as Unix
// seconds (ts) and milliseconds (ts_ms): 100 events, one a day, the newest
// an hour before now; 30 of them are younger than 30 days.
func eventsFile(t *testing.T, dir string, now time.Time) string {
	t.Helper()
	path := filepath.Join(dir, "events.db")
	db, err := sql.Open("sqlite3", "file:"+path+"?_pragma=journal_mode(wal)")
	if err != nil {
		t.Fatal(err)
	}
	newest := now.Add(-time.Hour).Unix()
	_, err = db.Exec(`CREATE TABLE events (id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, ts_ms INTEGER NOT NULL, what TEXT)`)
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`WITH RECURSIVE c(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM c WHERE x < 99)
		INSERT INTO events (ts, ts_ms, what) SELECT ?1 - x * 86400, (?1 - x * 86400) * 1000, 'event ' || x FROM c`, newest)
	if err == nil {
		err = db.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// TestPurgeBeforeOnUnixTimeColumn: "purge -before 30d" on a column of Unix
// times must delete the 70 old events only; compared as text (an integer
// is always smaller than a text) it deleted all 100 (issue 20, item 6).
func TestPurgeBeforeOnUnixTimeColumn(t *testing.T) {
	for _, tc := range []struct{ column, format string }{{"ts", "Unix seconds"}, {"ts_ms", "Unix milliseconds"}} {
		t.Run(tc.column, func(t *testing.T) {
			dir := t.TempDir()
			path := eventsFile(t, dir, time.Now())
			out, err := runCLI(t, "archive", "-db", path, "-table", "events", "-column", tc.column, "-before", "30d", "-dry-run")
			if err != nil || !strings.Contains(out, "dry run: 70 rows of events match") {
				t.Errorf("archive -dry-run: %q, %v; want 70 rows", out, err)
			}
			out, err = runCLI(t, "purge", "-db", path, "-table", "events", "-column", tc.column, "-before", "30d", "-progress=false")
			if err != nil || !strings.Contains(out, "holds "+tc.format) || !strings.Contains(out, "purged 70 rows") {
				t.Errorf("purge: %q, %v; want 70 rows purged, compared as %s", out, err, tc.format)
			}
			db, err := sql.Open("sqlite3", path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var left, young int
			err = db.QueryRow(`SELECT count(*), count(*) FILTER (WHERE CAST(substr(what, 7) AS INTEGER) < 30) FROM events`).Scan(&left, &young)
			if err != nil || left != 30 || young != 30 {
				t.Errorf("%d events left, %d of them the 30 young ones (%v)", left, young, err)
			}
		})
	}
}
