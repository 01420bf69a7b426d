package qlsqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/ncruces/go-sqlite3"
	ncruces "github.com/ncruces/go-sqlite3/driver"
)

// Statistics upkeep defaults (DSN: "_optimize", "_optimize_every").
const (
	// DefaultOptimizeEvery is how often a database runs PRAGMA optimize.
	DefaultOptimizeEvery = time.Hour
)

// Statistics upkeep keeps SQLite's planner statistics (sqlite_stat1) fresh,
// as https://sqlite.org/pragma.html#pragma_optimize recommends for
// long-lived connections:
//   - each connection runs "PRAGMA optimize=0x10002" when it opens, which
//     analyses the tables that have never been analysed;
//   - the database runs "PRAGMA optimize" every "_optimize_every" (default
//     1h) on a connection of its own, behind the writer gate;
//   - each connection runs "PRAGMA optimize" before it closes.
//
// All three run with analysis_limit=400, so ANALYZE reads a bounded sample
// whatever the size of a table; read-only connections skip them.
// "_optimize=off" (or [WithoutOptimize]) turns them all off.

// WithOptimize sets how often the database runs PRAGMA optimize (DSN:
// "_optimize_every"; default [DefaultOptimizeEvery]); 0 keeps only the runs
// at connection open and close.
func WithOptimize(every time.Duration) Option {
	return func(c *config) { c.optimize, c.optimizeEvery = true, max(every, 0) }
}

// WithoutOptimize turns statistics upkeep off (DSN: "_optimize=off").
func WithoutOptimize() Option {
	return func(c *config) { c.optimize = false }
}

// optimizeOnOpen runs on every new connection. It is best effort: when a
// writer holds the database, it is skipped rather than make the new
// connection wait (the next connection, the periodic run or the close will
// do it).
func (d *database) optimizeOnOpen(nc ncruces.Conn) {
	raw := nc.Raw()
	if !d.cfg.optimize {
		return
	}
	if ro, _ := raw.ReadOnly("main"); ro || !d.gate.tryAcquire() {
		return
	}
	defer d.gate.release()
	optimize(raw, `PRAGMA optimize=0x10002`)
}

// optimizeOnClose runs before a connection closes. A failure does not stop
// the close.
func (c *sqliteConn) optimizeOnClose() {
	if !c.db.cfg.optimize || c.health.broken != nil || c.inTx() {
		return
	}
	raw := c.Conn.Raw()
	if ro, _ := raw.ReadOnly("main"); ro {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if old := raw.SetInterrupt(ctx); old != ctx {
		defer raw.SetInterrupt(old)
	}
	if !c.db.gate.tryAcquire() {
		return // a writer is busy: skip rather than make the close wait
	}
	defer c.db.gate.release()
	optimize(raw, `PRAGMA optimize`)
}

// optimize runs an optimize pragma the way the upkeep always does: with
// analysis_limit=400, so that ANALYZE reads a bounded sample (an unbounded
// one leaves STAT4 statistics that make statements re-prepare, see README),
// and gives the session its own limit back: a user's own ANALYZE stays
// exact.
//
// It never waits for another process's writer, although it holds the
// writer gate: PRAGMA optimize reads before it writes, and SQLite does not
// call the busy handler for a read transaction that upgrades; it fails at
// once with BUSY, and the next run tries again.
func optimize(raw *sqlite3.Conn, pragma string) error {
	limit, err := pragmaInt(raw, "analysis_limit")
	if err != nil {
		return err
	}
	err = raw.Exec(`PRAGMA analysis_limit=400; ` + pragma)
	if rerr := raw.Exec(fmt.Sprintf(`PRAGMA analysis_limit=%d`, limit)); err == nil {
		err = rerr
	}
	return err
}

// optimizeLoop runs PRAGMA optimize every interval on a connection of its
// own, until the database closes. It starts with the first connection.
func (d *database) optimizeLoop() {
	every := d.cfg.optimizeEvery
	if !d.cfg.optimize || every <= 0 {
		return
	}
	d.optimizeOnce.Do(func() { d.every(every, func(ctx context.Context) { d.optimizeNow(ctx) }) })
}

// optimizeNow runs PRAGMA optimize once, on a connection of its own, bounded
// by ctx and by a minute, and keeps when and how it went for the
// monitoring page and the history.
func (d *database) optimizeNow(ctx context.Context) error {
	start := time.Now()
	err := d.runOptimize(ctx)
	run := &maintenanceRun{At: d.obs.clock.Now(), Took: time.Since(start)}
	detail := fmt.Sprintf("PRAGMA optimize in %v", run.Took.Round(time.Millisecond))
	if err != nil {
		run.Err = err.Error()
		detail += ": " + run.Err
	}
	d.optimized.Store(run)
	d.obs.recordEvent("optimize", detail)
	return err
}

// maintenanceRun is one run of a maintenance task.
type maintenanceRun struct {
	At   time.Time
	Took time.Duration
	Err  string
}

// runOptimize is optimizeNow's work.
func (d *database) runOptimize(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	dc, err := d.connect(ctx)
	if err != nil {
		return err
	}
	defer dc.Close()
	raw := dc.(ncruces.Conn).Raw()
	if ro, _ := raw.ReadOnly("main"); ro {
		return nil
	}
	if _, err := d.gate.acquire(ctx); err != nil {
		return err
	}
	defer d.gate.release()
	if old := raw.SetInterrupt(ctx); old != ctx {
		defer raw.SetInterrupt(old)
	}
	// On a connection of its own, which has run no query, PRAGMA optimize
	// looks at no table unless told to look at all (0x10000).
	return optimize(raw, `PRAGMA optimize=0x10002`)
}
