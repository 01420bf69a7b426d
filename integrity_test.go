package qlsqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"
)

func TestCheckIntegritySound(t *testing.T) {
	db := openStats(t, "")
	if _, err := db.Exec(`CREATE TABLE a (x); CREATE TABLE "b c" (y UNIQUE); CREATE VIEW v AS SELECT 1; INSERT INTO "b c" VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	r, err := CheckIntegrity(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	// a, "b c" and sqlite_schema; not the view.
	if !r.OK() || r.Tables != 3 || r.At.IsZero() || r.Took <= 0 {
		t.Errorf("report %+v", r)
	}
	if snap := mustStats(t, db); snap.Integrity == nil || snap.Integrity.Tables != 3 {
		t.Errorf("Stats reports %+v", snap.Integrity)
	}
}

func TestCheckIntegrityCorrupt(t *testing.T) {
	db, err := sql.Open(DriverName, "file:"+corrupt(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r, err := CheckIntegrity(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	if r.OK() || len(r.Problems) == 0 || r.Err != "" || r.Tables < 3 { // sound, t, sqlite_schema; sqlite_stat1 and 4 from optimize
		t.Fatalf("a damaged database: %+v", r)
	}
	for _, p := range r.Problems {
		if !strings.HasPrefix(p, "t: ") {
			t.Errorf("problem %q, want it to name table t, the damaged one", p)
		}
	}
	snap := mustStats(t, db)
	if snap.Integrity == nil || len(snap.Integrity.Problems) != len(r.Problems) {
		t.Errorf("Stats reports %+v", snap.Integrity)
	}
	snap.Integrity.Problems[0] = "changed by the caller"
	r.Problems[1] = "changed by the caller"
	if again := mustStats(t, db); again.Integrity.Problems[0] == "changed by the caller" || again.Integrity.Problems[1] == "changed by the caller" {
		t.Error("the report kept shares its problems with a caller")
	}
}

func TestCheckIntegrityInMemory(t *testing.T) {
	db, err := sql.Open(DriverName, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE t (n); CREATE TABLE u (n)`); err != nil {
		t.Fatal(err)
	}
	r, err := CheckIntegrity(context.Background(), db)
	if err != nil || !r.OK() || r.Tables != 3 {
		t.Errorf("in memory: %+v, %v", r, err)
	}
}

// TestCheckIntegrityCancelled: a check that ctx ends says so, with the
// context's error in the chain, and is not kept.
func TestCheckIntegrityCancelled(t *testing.T) {
	db := openStats(t, "")
	if _, err := db.Exec(`CREATE TABLE t (n)`); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := CheckIntegrity(ctx, db); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled check: %v, want context.Canceled", err)
	}
	if r, _ := Health(context.Background(), db); r.Integrity != nil || r.Status != HealthOK {
		t.Errorf("a cancelled check was kept: %+v, %s %v", r.Integrity, r.Status, r.Problems)
	}
}

// TestIntegrityCheckInSlices: each table is checked in a read transaction
// of its own, so that between two tables a writer commits and a checkpoint
// resets the WAL, which one read transaction over the whole check would
// prevent.
func TestIntegrityCheckInSlices(t *testing.T) {
	db := openStats(t, "?_pragma=busy_timeout(100)&_pragma=journal_mode(wal)")
	ctx := context.Background()
	if _, err := db.Exec(`CREATE TABLE a (x); CREATE TABLE b (x); INSERT INTO a VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	o := db.Driver().(*Driver).db.obs
	var checkpoints []string
	between := func(time.Duration) error {
		if _, err := db.ExecContext(ctx, `INSERT INTO b VALUES (2)`); err != nil {
			return err
		}
		var busy, log, done int
		if err := db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &log, &done); err != nil {
			return err
		}
		checkpoints = append(checkpoints, fmt.Sprint(busy, log, done))
		return nil
	}
	n, problems, err := o.dialect.checkIntegrity(ctx, db, between)
	if err != nil || n != 3 || len(problems) != 0 {
		t.Fatalf("%d tables, problems %v, error %v", n, problems, err)
	}
	// Three tables, two pauses; each checkpoint complete: not busy, the
	// WAL truncated to nothing.
	if strings.Join(checkpoints, ",") != "0 0 0,0 0 0" {
		t.Errorf("checkpoints between tables (busy, log, checkpointed): %v, want two of 0 0 0", checkpoints)
	}
}

// openMonitored opens the database at path with qlsqlite.Open, a fake clock
// and an alert log, and returns its monitor.
func openMonitored(t *testing.T, path string, opts ...Option) (*sql.DB, *monitor, *fakeClock, *alertLog) {
	t.Helper()
	clock := newFakeClock()
	log := &alertLog{}
	opts = append([]Option{WithClock(clock), WithAlertFunc(log.add), WithAlertThresholds(only(AlertThresholds{}))}, opts...)
	db, err := Open("file:"+path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, db.Driver().(*Driver).db.obs.monitor, clock, log
}

// TestScheduledIntegrityCheck: the monitor checks within the first hour,
// then every interval; a check that finds problems raises the integrity
// alert at the next tick, and Health fails.
func TestScheduledIntegrityCheck(t *testing.T) {
	db, m, clock, log := openMonitored(t, corrupt(t), WithIntegrityEvery(6*time.Hour))
	o := m.obs
	m.tick(clock.advance(50 * time.Minute)) // not due: the first check runs 54 to 60 minutes in
	m.checks.Wait()
	if last, _ := o.lastIntegrity(); last != nil {
		t.Fatalf("a check ran %v after the start: %+v", 50*time.Minute, last)
	}
	first := clock.advance(10 * time.Minute)
	m.tick(first)
	m.checks.Wait()
	last, _ := o.lastIntegrity()
	if last == nil || last.OK() || !last.At.Equal(first) {
		t.Fatalf("the check due within the hour: %+v", last)
	}
	// The alert comes with the tick that starts the check, if the check
	// ends before that tick evaluates, else with the next one.
	got := log.take()
	m.tick(clock.advance(10 * time.Second))
	got = append(got, log.take()...)
	if len(got) != 1 || got[0].Name != AlertIntegrity || !got[0].Firing || got[0].Value != float64(len(last.Problems)) ||
		!strings.Contains(got[0].Message, "found") {
		t.Fatalf("alerts %+v, want integrity firing", got)
	}
	if r, _ := Health(context.Background(), db); r.Status != HealthFailing || r.IntegrityAge != 10*time.Second {
		t.Errorf("Health after the check: %s %v, integrity age %v", r.Status, r.Problems, r.IntegrityAge)
	}

	m.tick(clock.advance(5 * time.Hour)) // 5h10m after the first check: not due
	m.checks.Wait()
	if again, _ := o.lastIntegrity(); !again.At.Equal(first) {
		t.Errorf("a check ran before the interval: %v", again.At)
	}
	second := clock.advance(time.Hour)
	m.tick(second)
	m.checks.Wait()
	if again, _ := o.lastIntegrity(); !again.At.Equal(second) {
		t.Errorf("no check one interval after the first: last at %v", again.At)
	}
	if got := log.take(); len(got) != 0 {
		t.Errorf("the alert, firing already, was delivered again: %+v", got)
	}
}

// TestScheduledIntegrityCheckByDefault: a monitored database opened with
// no integrity option checks within its first hour, then once a day
// (DefaultIntegrityEvery).
func TestScheduledIntegrityCheckByDefault(t *testing.T) {
	if DefaultIntegrityEvery != 24*time.Hour {
		t.Fatalf("DefaultIntegrityEvery %v, want a day", DefaultIntegrityEvery)
	}
	_, m, clock, _ := openMonitored(t, filepath.Join(t.TempDir(), "sound.db"))
	first := clock.advance(time.Hour)
	m.tick(first)
	m.checks.Wait()
	last, _ := m.obs.lastIntegrity()
	if last == nil || !last.OK() || !last.At.Equal(first) {
		t.Fatalf("no integrity check within the first hour by default: %+v", last)
	}
	m.tick(clock.advance(23 * time.Hour))
	m.checks.Wait()
	if again, _ := m.obs.lastIntegrity(); !again.At.Equal(first) {
		t.Errorf("a check ran before a day had passed: %v", again.At)
	}
	second := clock.advance(time.Hour)
	m.tick(second)
	m.checks.Wait()
	if again, _ := m.obs.lastIntegrity(); !again.At.Equal(second) {
		t.Errorf("no check a day after the first: last at %v", again.At)
	}
}

// TestIntegrityAlertClears: the alert clears when a later check finds
// nothing wrong; a check that could not complete does not clear it.
func TestIntegrityAlertClears(t *testing.T) {
	_, m, clock, log := openMonitored(t, filepath.Join(t.TempDir(), "sound.db"), WithIntegrityEvery(0))
	o := m.obs
	bad := &IntegrityReport{At: clock.Now(), Tables: 2, Problems: []string{"t: Tree 2 page 2: btreeInitPage() returns error code 11"}}
	o.mu.Lock()
	o.integrity, o.judged = bad, bad
	o.mu.Unlock()
	m.tick(clock.advance(10 * time.Second))
	if got := log.take(); len(got) != 1 || !got[0].Firing {
		t.Fatalf("alerts %+v, want integrity firing", got)
	}
	unfinished := &IntegrityReport{At: clock.Now(), Err: "qlsqlite: integrity check: disk I/O error"}
	o.mu.Lock()
	o.integrity = unfinished
	o.mu.Unlock()
	m.tick(clock.advance(10 * time.Second))
	if got := log.take(); len(got) != 0 {
		t.Fatalf("a check that did not complete changed the alert: %+v", got)
	}
	if _, err := CheckIntegrity(context.Background(), m.sqlDB); err != nil {
		t.Fatal(err)
	}
	m.tick(clock.advance(10 * time.Second))
	if got := log.take(); len(got) != 1 || got[0].Firing || got[0].Name != AlertIntegrity {
		t.Fatalf("alerts %+v, want integrity cleared", got)
	}
}

// TestHealthDegradedByUnfinishedCheck: a check that could not complete
// degrades Health; one that found problems before it stopped fails it.
func TestHealthDegradedByUnfinishedCheck(t *testing.T) {
	db := openStats(t, "")
	o := db.Driver().(*Driver).db.obs
	o.mu.Lock()
	o.integrity = &IntegrityReport{At: o.clock.Now(), Err: "qlsqlite: integrity check: disk I/O error"}
	o.mu.Unlock()
	r, err := Health(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != HealthDegraded || len(r.Problems) != 1 || !strings.Contains(r.Problems[0], "did not complete") {
		t.Errorf("status %s, problems %v", r.Status, r.Problems)
	}
}

// TestUnfinishedCheckKeepsTheVerdict: a check that stops on an I/O error
// after an earlier one found damage judges nothing: Health still fails with
// the earlier problems (and says the last check did not complete, and that
// the integrity alert fires), and the alert stays firing.
func TestUnfinishedCheckKeepsTheVerdict(t *testing.T) {
	fv, vfsName := registerFaultVFS(t)
	db, m, clock, log := openMonitored(t, corrupt(t)+"?vfs="+vfsName, WithIntegrityEvery(0))
	ctx := context.Background()
	found, err := CheckIntegrity(ctx, db)
	if err != nil || len(found.Problems) == 0 {
		t.Fatalf("the damaged database: %+v, %v", found, err)
	}
	m.tick(clock.advance(10 * time.Second))
	if got := log.take(); len(got) != 1 || !got[0].Firing {
		t.Fatalf("alerts %+v, want integrity firing", got)
	}
	fv.failReads(vfs.SystemError(syscall.EIO, sqlite3.IOERR_READ))
	unfinished, err := CheckIntegrity(ctx, db)
	fv.failReads(nil)
	if err == nil || unfinished.Err == "" || len(unfinished.Problems) != 0 {
		t.Fatalf("the check with reads failing: %+v, %v; want it unfinished, with no problems found", unfinished, err)
	}
	r, err := Health(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != HealthFailing || len(r.Problems) != 3 || !strings.Contains(r.Problems[0], fmt.Sprintf("found %d problems", len(found.Problems))) ||
		!strings.Contains(r.Problems[1], "did not complete") || !strings.Contains(r.Problems[2], "alert integrity") || r.Integrity.Err == "" {
		t.Errorf("Health after the unfinished check: %s %q, last check %+v", r.Status, r.Problems, r.Integrity)
	}
	m.tick(clock.advance(10 * time.Second))
	if got := log.take(); len(got) != 0 {
		t.Errorf("the unfinished check changed the alert: %+v", got)
	}
}

// pacingDialect records, for each pause between two tables of an integrity
// check, how long the table before it took and how long the pause lasted.
type pacingDialect struct {
	dialect
	mu     sync.Mutex
	pauses [][2]time.Duration // took, paused
}

func (p *pacingDialect) checkIntegrity(ctx context.Context, db *sql.DB, between func(time.Duration) error) (int, []string, error) {
	return p.dialect.checkIntegrity(ctx, db, func(took time.Duration) error {
		start := time.Now()
		err := between(took)
		paused := time.Since(start)
		p.mu.Lock()
		p.pauses = append(p.pauses, [2]time.Duration{took, paused})
		p.mu.Unlock()
		return err
	})
}

// TestScheduledCheckPausesBetweenTables: the scheduled check is spread
// out: after each table but the last it pauses at least as long as the
// table took, with no read transaction open, so that it takes at most half
// of a connection's time and checkpoints can reset the WAL meanwhile.
func TestScheduledCheckPausesBetweenTables(t *testing.T) {
	db, m, clock, _ := openMonitored(t, filepath.Join(t.TempDir(), "paced.db"), WithIntegrityEvery(time.Hour))
	if _, err := db.Exec(`CREATE TABLE a (x); CREATE TABLE b (x); CREATE INDEX a_x ON a (x);
		WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 2000)
		INSERT INTO a SELECT printf('%0100d', n) FROM c`); err != nil {
		t.Fatal(err)
	}
	pd := &pacingDialect{dialect: m.obs.dialect}
	m.obs.dialect = pd
	m.tick(clock.advance(time.Hour))
	m.checks.Wait()
	last, _ := m.obs.lastIntegrity()
	if last == nil || !last.OK() || last.Tables != 3 {
		t.Fatalf("the scheduled check: %+v", last)
	}
	pd.mu.Lock()
	defer pd.mu.Unlock()
	if len(pd.pauses) != 2 {
		t.Fatalf("%d pauses between 3 tables, want 2", len(pd.pauses))
	}
	for i, p := range pd.pauses {
		if took, paused := p[0], p[1]; paused < took || took <= 0 {
			t.Errorf("pause %d: the table took %v, the pause %v; want a pause at least as long", i+1, took, paused)
		}
	}
}
