package qlsqlite

import (
	"context"
	"fmt"
	"time"

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
	// Never wait here for another process's writer: busy timeout 0, then back.
	stmt, _, err := raw.Prepare(`PRAGMA busy_timeout`)
	if err != nil {
		return
	}
	stmt.Step()
	busy := stmt.ColumnInt(0)
	stmt.Close()
	raw.Exec(`PRAGMA busy_timeout=0; PRAGMA analysis_limit=400; PRAGMA optimize=0x10002`)
	// Give the session back as it was: a user's own ANALYZE is exact.
	raw.Exec(fmt.Sprintf(`PRAGMA busy_timeout=%d; PRAGMA analysis_limit=0`, busy))
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
	raw.Exec(`PRAGMA optimize`)
	c.db.gate.release()
}

// optimizeLoop runs PRAGMA optimize every interval on a connection of its
// own, until the database closes. It starts with the first connection.
func (d *database) optimizeLoop() {
	every := d.cfg.optimizeEvery
	if !d.cfg.optimize || every <= 0 {
		return
	}
	d.optimizeOnce.Do(func() { d.every(every, func() { d.optimizeNow() }) })
}

// optimizeNow runs PRAGMA optimize once, on a connection of its own.
func (d *database) optimizeNow() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
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
	return raw.Exec(`PRAGMA analysis_limit=400; PRAGMA optimize`)
}
