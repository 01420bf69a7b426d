package qlsqlite

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
	ncruces "github.com/ncruces/go-sqlite3/driver"
)

// fakeClock is a Clock that moves only when a test says so; its ticker
// ticks only when a test sends on ticks.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	ticks chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC), ticks: make(chan time.Time)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Ticker(time.Duration) (<-chan time.Time, func()) { return c.ticks, func() {} }

// advance moves the clock and returns the new time.
func (c *fakeClock) advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// alertLog collects delivered alerts.
type alertLog struct {
	mu     sync.Mutex
	alerts []Alert
}

func (l *alertLog) add(a Alert) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.alerts = append(l.alerts, a)
}

func (l *alertLog) take() []Alert {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.alerts
	l.alerts = nil
	return out
}

// only returns thresholds with every alert disabled but those set in t.
func only(t AlertThresholds) AlertThresholds {
	off := AlertThresholds{QueryP95: -1, PoolUsage: -1, DatabaseSize: -1, ErrorRate: -1, LockWait: -1, Window: t.Window, MinCalls: t.MinCalls}
	if t.QueryP95 != 0 {
		off.QueryP95 = t.QueryP95
	}
	if t.PoolUsage != 0 {
		off.PoolUsage = t.PoolUsage
	}
	if t.DatabaseSize != 0 {
		off.DatabaseSize = t.DatabaseSize
	}
	if t.ErrorRate != 0 {
		off.ErrorRate = t.ErrorRate
	}
	if t.LockWait != 0 {
		off.LockWait = t.LockWait
	}
	return off
}

// monitored opens a database with qlsqlite.Open, a fake clock and an
// alert log, and returns its monitor.
func monitored(t *testing.T, th AlertThresholds) (*sql.DB, *monitor, *fakeClock, *alertLog) {
	t.Helper()
	clock := newFakeClock()
	log := &alertLog{}
	db, err := Open("file:"+filepath.Join(t.TempDir(), "monitor.db"),
		WithClock(clock), WithAlertFunc(log.add), WithAlertThresholds(only(th)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, db.Driver().(*Driver).db.obs.monitor, clock, log
}

func TestAlertErrorRate(t *testing.T) {
	db, m, clock, log := monitored(t, AlertThresholds{ErrorRate: 0.01})
	if _, err := db.Exec(`CREATE TABLE t (n INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, err := db.Exec(`INSERT INTO t VALUES (?)`, i); err != nil {
			t.Fatal(err)
		}
	}
	m.tick(clock.advance(10 * time.Second))
	if got := log.take(); len(got) != 0 {
		t.Fatalf("no errors, alerts %+v", got)
	}
	for i := range 20 {
		_, err := db.Exec(`INSERT INTO t VALUES (?)`, i%5+100*(i/5)) // 5 duplicates, 15 new keys
		if err != nil && !errors.Is(err, sqlite3.CONSTRAINT_PRIMARYKEY) {
			t.Fatal(err)
		}
	}
	m.tick(clock.advance(10 * time.Second))
	got := log.take()
	// 1 CREATE + 20 + 20 calls in the window, 5 of them failed.
	if len(got) != 1 || got[0].Name != AlertErrorRate || !got[0].Firing || got[0].Value != 5.0/41 || got[0].Threshold != 0.01 {
		t.Fatalf("alerts %+v, want error_rate firing at 5/41", got)
	}
	if !strings.Contains(got[0].Message, "12.20% of 41 calls failed") {
		t.Errorf("message %q", got[0].Message)
	}
	// Still firing: nothing more is sent.
	for range 3 {
		m.tick(clock.advance(10 * time.Second))
	}
	if got := log.take(); len(got) != 0 {
		t.Fatalf("a firing alert was sent again: %+v", got)
	}
	if a := m.active(); len(a) != 1 || a[0].Name != AlertErrorRate {
		t.Errorf("active alerts %+v", a)
	}
	// The window moves past the errors: too few calls to judge, it clears.
	m.tick(clock.advance(6 * time.Minute))
	got = log.take()
	if len(got) != 1 || got[0].Name != AlertErrorRate || got[0].Firing {
		t.Fatalf("alerts %+v, want error_rate cleared", got)
	}
	m.tick(clock.advance(10 * time.Second))
	if got := log.take(); len(got) != 0 || len(m.active()) != 0 {
		t.Fatalf("after clearing: %+v, active %+v", got, m.active())
	}
}

func TestAlertQueryP95(t *testing.T) {
	db, m, clock, log := monitored(t, AlertThresholds{QueryP95: time.Nanosecond, MinCalls: 5})
	if _, err := db.Exec(`CREATE TABLE t (n)`); err != nil {
		t.Fatal(err)
	}
	const q = `SELECT count(*) FROM t WHERE n > ?`
	var n int
	for i := range 4 {
		if err := db.QueryRow(q, i).Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	m.tick(clock.advance(10 * time.Second))
	if got := log.take(); len(got) != 0 {
		t.Fatalf("4 calls, fewer than MinCalls: alerts %+v", got)
	}
	if err := db.QueryRow(q, 9).Scan(&n); err != nil {
		t.Fatal(err)
	}
	m.tick(clock.advance(10 * time.Second))
	got := log.take()
	if len(got) != 1 || got[0].Name != AlertQueryP95 || !got[0].Firing || len(got[0].Fingerprints) != 1 || got[0].Fingerprints[0] != FingerprintOf(q) {
		t.Fatalf("alerts %+v, want query_p95 naming %q", got, q)
	}
	if !strings.Contains(got[0].Message, FingerprintOf(q).Text) {
		t.Errorf("message %q", got[0].Message)
	}
	snap := mustStats(t, db)
	if !snap.Monitored || len(snap.Alerts) != 1 || snap.Alerts[0].Name != AlertQueryP95 {
		t.Errorf("Stats: monitored %v, alerts %+v", snap.Monitored, snap.Alerts)
	}
}

// TestAlertHysteresis evaluates query p95 readings around the threshold:
// an alert fires once at the threshold and clears only below 90% of it, so
// a value hovering around the threshold does not storm.
func TestAlertHysteresis(t *testing.T) {
	th := only(AlertThresholds{QueryP95: 100 * time.Millisecond, MinCalls: 1}).withDefaults()
	m := &monitor{obs: &observability{}, cfg: observeConfig{thresholds: th}, firing: map[string]Alert{}}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	fp := FingerprintOf(`SELECT 1`)
	var sent []Alert
	// Each value is at least 3% from the threshold (100ms) and from 90% of
	// it, more than the histogram's error.
	for _, p95 := range []time.Duration{50, 120, 97, 103, 96, 104, 80, 95, 97, 130, 150} {
		now = now.Add(10 * time.Second)
		var h histogram
		for range 20 {
			h.record(p95 * time.Millisecond)
		}
		m.history = []monSample{{at: now.Add(-time.Minute), hists: map[string]*histogram{}}}
		cur := monSample{at: now, hists: map[string]*histogram{fp.ID: &h}, fps: map[string]Fingerprint{fp.ID: fp}, util: -1, size: -1}
		sent = append(sent, m.evaluate(now, cur)...)
	}
	var seq []string
	for _, a := range sent {
		if a.Firing {
			seq = append(seq, "fire")
		} else {
			seq = append(seq, "clear")
		}
	}
	// 120 fires; 97, 103, 96, 104 keep it; 80 clears; 95, 97 stay quiet;
	// 130 fires again.
	if strings.Join(seq, ",") != "fire,clear,fire" {
		t.Errorf("alerts %v, want fire,clear,fire", seq)
	}
}

func TestAlertPoolUsage(t *testing.T) {
	db, m, clock, log := monitored(t, AlertThresholds{PoolUsage: 0.8})
	db.SetMaxOpenConns(2)
	m.tick(clock.advance(10 * time.Second)) // nothing in use
	ctx := context.Background()
	var held []*sql.Conn
	for range 2 {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	// The tick with none in use, then each with both: means 1/2, 2/3, 3/4,
	// then 4/5 = 80%. (The sample taken at open had no limit set: it does
	// not count.)
	for i := range 3 {
		m.tick(clock.advance(10 * time.Second))
		if got := log.take(); len(got) != 0 {
			t.Fatalf("tick %d: alerts %+v", i+1, got)
		}
	}
	m.tick(clock.advance(10 * time.Second))
	got := log.take()
	if len(got) != 1 || got[0].Name != AlertPoolUsage || !got[0].Firing || got[0].Value != 0.8 {
		t.Fatalf("alerts %+v, want pool_usage firing at 0.8", got)
	}
	for _, c := range held {
		c.Close()
	}
	m.tick(clock.advance(10 * time.Second)) // 4/6 < 72%
	got = log.take()
	if len(got) != 1 || got[0].Name != AlertPoolUsage || got[0].Firing {
		t.Fatalf("alerts %+v, want pool_usage cleared", got)
	}
}

func TestAlertDatabaseSize(t *testing.T) {
	db, m, clock, log := monitored(t, AlertThresholds{DatabaseSize: 50_000})
	if _, err := db.Exec(`CREATE TABLE t (b BLOB)`); err != nil {
		t.Fatal(err)
	}
	m.tick(clock.advance(10 * time.Second))
	if got := log.take(); len(got) != 0 {
		t.Fatalf("a small database: alerts %+v", got)
	}
	if _, err := db.Exec(`INSERT INTO t VALUES (zeroblob(100000))`); err != nil {
		t.Fatal(err)
	}
	m.tick(clock.advance(10 * time.Second))
	got := log.take()
	st := mustStats(t, db).Database.Storage
	if len(got) != 1 || got[0].Name != AlertDatabaseSize || !got[0].Firing || got[0].Value != float64(st.SizeBytes) || st.SizeBytes < 100000 {
		t.Fatalf("alerts %+v, size %d", got, st.SizeBytes)
	}
	if g := mustStats(t, db).Database.GrowthBytesPerHour; g <= 0 {
		t.Errorf("growth %v bytes/h after growing", g)
	}
}

func TestAlertLockWait(t *testing.T) {
	db, m, clock, log := monitored(t, AlertThresholds{LockWait: time.Second})
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		raw := dc.(ncruces.Conn).Raw()
		sc := sqliteConnOf(dc)
		return raw.CreateFunction("wait_ms", 1, 0, func(ctx sqlite3.Context, arg ...sqlite3.Value) {
			sc.report.addWait(time.Duration(arg[0].Int64()) * time.Millisecond)
			ctx.ResultInt(1)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := conn.QueryRowContext(ctx, `SELECT wait_ms(?)`, 900).Scan(&n); err != nil {
		t.Fatal(err)
	}
	m.tick(clock.advance(10 * time.Second))
	if got := log.take(); len(got) != 0 {
		t.Fatalf("900ms: alerts %+v", got)
	}
	if err := conn.QueryRowContext(ctx, `SELECT wait_ms(?)`, 1500).Scan(&n); err != nil {
		t.Fatal(err)
	}
	m.tick(clock.advance(10 * time.Second))
	got := log.take()
	if len(got) != 1 || got[0].Name != AlertLockWait || !got[0].Firing || got[0].Value != 1.2 {
		t.Fatalf("alerts %+v, want lock_wait firing at a mean of 1.2s", got)
	}
}

// TestMonitorGoroutine drives the monitor's own goroutine through the
// clock's ticker, and stops it by closing the database.
func TestMonitorGoroutine(t *testing.T) {
	clock := newFakeClock()
	alerts := make(chan Alert, 1)
	db, err := Open("file:"+filepath.Join(t.TempDir(), "goroutine.db"), WithClock(clock),
		WithAlertFunc(func(a Alert) { alerts <- a }), WithAlertThresholds(only(AlertThresholds{DatabaseSize: 1})))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE t (n)`); err != nil {
		t.Fatal(err)
	}
	m := db.Driver().(*Driver).db.obs.monitor
	clock.ticks <- clock.advance(10 * time.Second)
	select {
	case a := <-alerts:
		if a.Name != AlertDatabaseSize || !a.Firing {
			t.Errorf("alert %+v", a)
		}
	case <-time.After(time.Minute):
		t.Fatal("no alert from the monitor's goroutine")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	<-m.exited // closing the database stopped the goroutine
}

func TestMonitorSQLOpen(t *testing.T) {
	db := openStats(t, "")
	if _, err := Monitor(db, WithTimeout(time.Second)); err == nil || !strings.Contains(err.Error(), "WithTimeout") {
		t.Errorf("Monitor with WithTimeout: %v", err)
	}
	clock := newFakeClock()
	log := &alertLog{}
	stop, err := Monitor(db, WithClock(clock), WithAlertFunc(log.add), WithAlertThresholds(only(AlertThresholds{DatabaseSize: 1})))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Monitor(db); err == nil || !strings.Contains(err.Error(), "already monitored") {
		t.Errorf("second Monitor: %v", err)
	}
	if _, err := db.Exec(`CREATE TABLE t (n)`); err != nil {
		t.Fatal(err)
	}
	m := db.Driver().(*Driver).db.obs.monitor
	m.tick(clock.advance(10 * time.Second))
	if got := log.take(); len(got) != 1 || got[0].Name != AlertDatabaseSize {
		t.Errorf("alerts %+v", got)
	}
	stop()
	<-m.exited
	if mustStats(t, db).Monitored {
		t.Error("still monitored after stop")
	}
	stop, err = Monitor(db, WithClock(clock))
	if err != nil {
		t.Fatalf("Monitor after stop: %v", err)
	}
	stop()
}

// TestAlertsLogged: without an alert function, alerts go to the logger.
func TestAlertsLogged(t *testing.T) {
	var buf strings.Builder
	var mu sync.Mutex
	clock := newFakeClock()
	db, err := Open("file:"+filepath.Join(t.TempDir(), "logged.db"), WithClock(clock),
		WithLogger(newTextLogger(&buf, &mu)), WithAlertThresholds(only(AlertThresholds{DatabaseSize: 1})))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE t (n)`); err != nil {
		t.Fatal(err)
	}
	db.Driver().(*Driver).db.obs.monitor.tick(clock.advance(10 * time.Second))
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(buf.String(), "level=WARN") || !strings.Contains(buf.String(), "alert=database_size") {
		t.Errorf("log: %s", buf.String())
	}
}

func newTextLogger(w *strings.Builder, mu *sync.Mutex) *slog.Logger {
	return slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return w.Write(p)
	}), nil))
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestMonitorHistoryBounded: the monitor keeps a window's worth of samples,
// and the fingerprints' histograms in only a few of them; Stats in a loop
// does not grow the samples kept for rates.
func TestMonitorHistoryBounded(t *testing.T) {
	db, m, clock, log := monitored(t, AlertThresholds{QueryP95: time.Nanosecond, MinCalls: 1})
	if _, err := db.Exec(`CREATE TABLE t (n)`); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if _, err := db.Exec(`INSERT INTO t VALUES (?)`, i); err != nil {
			t.Fatal(err)
		}
		m.tick(clock.advance(10 * time.Second))
	}
	m.mu.Lock()
	n, withHists := len(m.history), 0
	for _, s := range m.history {
		if s.hists != nil {
			withHists++
		}
	}
	m.mu.Unlock()
	// 5 minutes of 10-second ticks: 30 samples and the one before the window.
	if n > 32 || withHists > 8 || withHists < 5 {
		t.Errorf("history of %d samples, %d with histograms", n, withHists)
	}
	if got := log.take(); len(got) != 1 || got[0].Name != AlertQueryP95 {
		t.Errorf("alerts %+v", got)
	}
	for range 1000 {
		mustStats(t, db)
	}
	o := db.Driver().(*Driver).db.obs
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.samples) > 32 {
		t.Errorf("%d samples kept for rates", len(o.samples))
	}
}

// TestResetStatsWhileTheMonitorTicks: ResetStats samples the database on
// the caller's goroutine while the monitor's own goroutine samples on its
// ticks; run under -race (as .ci/run does), the two must share nothing
// unguarded (the previous pool reading was once read outside the lock).
func TestResetStatsWhileTheMonitorTicks(t *testing.T) {
	db, _, clock, _ := monitored(t, AlertThresholds{ErrorRate: 0.5})
	if _, err := db.Exec(`CREATE TABLE t (n)`); err != nil {
		t.Fatal(err)
	}
	ticked := make(chan struct{})
	go func() {
		defer close(ticked)
		for range 50 {
			clock.ticks <- clock.advance(time.Second) // the monitor's goroutine samples
		}
	}()
	for range 50 {
		if err := ResetStats(db); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO t VALUES (1)`); err != nil {
			t.Fatal(err)
		}
	}
	<-ticked
	if _, err := db.Exec(`SELECT count(*) FROM t`); err != nil {
		t.Fatal(err)
	}
}
