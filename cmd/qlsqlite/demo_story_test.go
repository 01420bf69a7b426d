package main

import (
	"bytes"
	"context"
	"database/sql"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quantumleap/qlsqlite"
)

// TestDemoTellsTheStory: the statistics are the workload's statements
// only, the waits are explained, reads and writes are compared, and the
// demo ends with what it showed and what to try next.
func TestDemoTellsTheStory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "demo.db")
	out, err := runCLI(t, "demo", "--db", path, "--users", "50", "--trades", "2000", "--workers", "2", "--ops", "200", "--progress=false")
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	i := strings.Index(out, "per-fingerprint statistics (qlsqlite.Stats) of the workload's statements")
	j := strings.Index(out, "health (qlsqlite.Health)")
	if i < 0 || j < i {
		t.Fatalf("no statistics before the health report:\n%s", out)
	}
	table := out[i:j]
	for _, unwanted := range []string{"CREATE INDEX", "ANALYZE", "DELETE FROM", "INSERT OR", "sqlite_", "PRAGMA"} {
		if strings.Contains(table, unwanted) {
			t.Errorf("the statistics show a statement that is not the workload's (%s):\n%s", unwanted, table)
		}
	}
	for _, want := range []string{"waited", "calls in progress at a time", "writer gate"} {
		if !strings.Contains(table, want) {
			t.Errorf("the statistics lack %q:\n%s", want, table)
		}
	}
	if !regexp.MustCompile(`(?m)^reads:  median \S+ before, \S+ after`).MatchString(out) || !regexp.MustCompile(`(?m)^writes: median \S+ before, \S+ after`).MatchString(out) {
		t.Errorf("no comparison of reads and writes:\n%s", out)
	}
	end := out[j:]
	for _, want := range []string{"What this showed:", "Try next", "qlsqlite advise --db " + path, "qlsqlite migrate status --db " + path} {
		if !strings.Contains(end, want) {
			t.Errorf("the end lacks %q:\n%s", want, end)
		}
	}
}

// demoClock is a qlsqlite.Clock whose ticker ticks when the test says.
type demoClock struct {
	mu    sync.Mutex
	now   time.Time
	ticks chan time.Time
}

func (c *demoClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *demoClock) Ticker(time.Duration) (<-chan time.Time, func()) { return c.ticks, func() {} }

// tick moves the clock and hands the monitor a tick; it returns once the
// monitor has taken it (and so has finished the tick before).
func (c *demoClock) tick(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	now := c.now
	c.mu.Unlock()
	c.ticks <- now
}

// TestDemoHoldsAlertsAndLogs: with the demo's options, an alert that fires
// and a record logged (a slow query) while a progress bar draws reach
// neither the terminal nor the default logger: they are held, and printed
// after the step.
func TestDemoHoldsAlertsAndLogs(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  qlsqlite.Option                                  // added to the demo's options
		run  func(t *testing.T, db *sql.DB, clock *demoClock) // alerts or logs
		want string                                           // in what the flush prints
	}{
		{"alert", qlsqlite.WithAlertThresholds(qlsqlite.AlertThresholds{QueryP95: time.Nanosecond}),
			fireQueryP95, "alert fired: query_p95"},
		{"slow query", qlsqlite.WithSlowQueryLog(time.Nanosecond), func(t *testing.T, db *sql.DB, _ *demoClock) {
			if _, err := db.Exec(`CREATE TABLE slow (x)`); err != nil {
				t.Fatal(err)
			}
		}, `msg="qlsqlite: slow query" fingerprint="CREATE TABLE slow(x)"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			global := captureDefaultLog(t)
			clock := &demoClock{now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC), ticks: make(chan time.Time)}
			var held heldLog
			opts := append(demoOptions(demoFlags{workers: 2}, &held), qlsqlite.WithClock(clock), tc.opt)
			db, err := qlsqlite.Open(fileURI(filepath.Join(t.TempDir(), "held.db"), ""), opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			tc.run(t, db, clock)
			var out bytes.Buffer
			held.flush(&out)
			if !strings.Contains(out.String(), tc.want) {
				t.Errorf("held: %q, want %q", out.String(), tc.want)
			}
			if global.Len() != 0 {
				t.Errorf("the default logger got: %s", global.String())
			}
			out.Reset()
			held.flush(&out)
			if out.Len() != 0 {
				t.Errorf("a flush printed again: %q", out.String())
			}
		})
	}
}

// captureDefaultLog makes slog's default logger write to the buffer it
// returns until the test ends.
func captureDefaultLog(t *testing.T) *bytes.Buffer {
	t.Helper()
	var global bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&global, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })
	return &global
}

// fireQueryP95 runs queries and moves the monitor on until the query_p95
// alert (set to a nanosecond) fires.
func fireQueryP95(t *testing.T, db *sql.DB, clock *demoClock) {
	t.Helper()
	if _, err := db.Exec(`CREATE TABLE t (x); INSERT INTO t VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	var n int
	for range 20 {
		if err := db.QueryRowContext(context.Background(), `SELECT count(*) FROM t`).Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		clock.tick(10 * time.Second)
	}
}

// TestDemoProgressCountsOperations: the workload's bar counts operations,
// not milliseconds, and no log line lands among the bars.
func TestDemoProgressCountsOperations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "demo.db")
	code, _, stderr := runCommand(t, "demo", "--db", path, "--users", "20", "--trades", "500", "--workers", "2", "--duration", "300ms")
	if code != 0 {
		t.Fatalf("demo: exit %d\n%s", code, stderr)
	}
	if !regexp.MustCompile(`workload: \d+ ops`).MatchString(stderr) || strings.Contains(stderr, "/300)") || strings.Contains(stderr, "level=") {
		t.Errorf("stderr:\n%s", stderr)
	}
	path2 := filepath.Join(t.TempDir(), "demo.db")
	code, _, stderr = runCommand(t, "demo", "--db", path2, "--users", "20", "--trades", "500", "--workers", "2", "--ops", "50")
	if code != 0 || !strings.Contains(stderr, "workload (operations)") || !strings.Contains(stderr, "(50/50") {
		t.Errorf("demo --ops 50: exit %d\n%s", code, stderr)
	}
}
