package qlsqlite

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// slowRecord is a slow-query log record, as the JSON handler writes it.
type slowRecord struct {
	Msg        string
	Plan       string
	Suppressed int64
}

// slowLog collects the slow-query records of a database.
type slowLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *slowLog) records(t *testing.T) []slowRecord {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []slowRecord
	for _, line := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var r slowRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%v: %q", err, line)
		}
		out = append(out, r)
	}
	l.buf.Reset()
	return out
}

// TestSlowQueryLogLimit: with a limit of 2 records a second, 5 slow calls
// within a second log 2; the first call after the second has passed is
// logged with the count of the 3 left out; closing the database reports
// those left out since. The clock is the test's: nothing depends on how
// fast the machine is (every call is slow at a threshold of 1 ns).
func TestSlowQueryLogLimit(t *testing.T) {
	clock := newFakeClock()
	var log slowLog
	logger := slog.New(slog.NewJSONHandler(&lockedWriter{w: &log.buf, mu: &log.mu}, nil))
	path := filepath.Join(t.TempDir(), "slow.db")
	c, err := NewConnector("file:"+filepath.ToSlash(path)+"?_slow_limit=2/1s", WithSlowQueryLog(time.Nanosecond), WithLogger(logger), WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE t (x)`); err != nil {
		t.Fatal(err)
	}
	clock.advance(time.Second)
	log.records(t)

	query := func(n int) {
		for range n {
			var x int
			if err := db.QueryRow(`SELECT count(*) FROM t`).Scan(&x); err != nil {
				t.Fatal(err)
			}
		}
	}
	query(5)
	if got := log.records(t); len(got) != 2 || got[0].Suppressed != 0 || got[1].Suppressed != 0 {
		t.Fatalf("5 slow calls in a period of 2: %+v", got)
	}
	clock.advance(999 * time.Millisecond)
	query(1)
	if got := log.records(t); len(got) != 0 {
		t.Fatalf("within the same second: %+v", got)
	}
	clock.advance(time.Millisecond)
	query(3)
	got := log.records(t)
	if len(got) != 2 || got[0].Suppressed != 4 || got[1].Suppressed != 0 {
		t.Fatalf("the next second: %+v, want 2 records, the first with suppressed=4", got)
	}
	db.Close()
	got = log.records(t)
	if len(got) != 1 || got[0].Msg != "qlsqlite: slow queries suppressed" || got[0].Suppressed != 1 {
		t.Fatalf("at close: %+v, want one record of 1 suppressed", got)
	}
}

// TestSlowQueryLogNoLimit: "_slow_limit=0" logs every slow call.
func TestSlowQueryLogNoLimit(t *testing.T) {
	var log slowLog
	logger := slog.New(slog.NewJSONHandler(&lockedWriter{w: &log.buf, mu: &log.mu}, nil))
	c, err := NewConnector("file:"+filepath.ToSlash(filepath.Join(t.TempDir(), "slow.db"))+"?_slow_limit=off", WithSlowQueryLog(time.Nanosecond), WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	for range 30 {
		if _, err := db.Exec(`SELECT 1`); err != nil {
			t.Fatal(err)
		}
	}
	if got := log.records(t); len(got) != 30 {
		t.Errorf("%d records of 30 slow calls", len(got))
	}
}

// TestSlowQueryLogPlanOneLine: the plan in a record is one line, with no
// newline for a text handler to escape as \n.
func TestSlowQueryLogPlanOneLine(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, nil))
	db, err := Open("file:"+filepath.ToSlash(filepath.Join(t.TempDir(), "plan.db"))+"?_slow=1ns", WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE trades (symbol TEXT, ts TEXT)`); err != nil {
		t.Fatal(err)
	}
	const q = `SELECT * FROM trades WHERE symbol = ? ORDER BY ts`
	if _, err := db.Exec(q, "X"); err != nil {
		t.Fatal(err)
	}
	if _, err := CapturedPlans(t.Context(), db); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	buf.Reset()
	mu.Unlock()
	if _, err := db.Exec(q, "Y"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if !strings.Contains(out, `plan="SCAN trades; USE TEMP B-TREE FOR ORDER BY"`) || strings.Contains(out, `\n`) {
		t.Errorf("slow-query record:\n%s", out)
	}
}

func TestParseSlowLimit(t *testing.T) {
	for in, want := range map[string]slowLimit{
		"10/1s":   {10, time.Second},
		"100/1m":  {100, time.Minute},
		"5":       {5, time.Second},
		"0":       {0, time.Second},
		"off":     {0, time.Second},
		"3/250ms": {3, 250 * time.Millisecond},
	} {
		if got, err := parseSlowLimit(in); err != nil || got != want {
			t.Errorf("parseSlowLimit(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"-1", "ten", "10/", "10/0s", "10/-1s", "10/soon"} {
		if _, err := parseSlowLimit(bad); err == nil {
			t.Errorf("parseSlowLimit(%q): no error", bad)
		}
	}
}
