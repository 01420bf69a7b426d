package qlsqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ncruces/go-sqlite3"
	ncruces "github.com/ncruces/go-sqlite3/driver"
)

// DefaultWALLimit is the size the write-ahead log is kept under
// ("_wal_limit"): 64 MiB, sixteen times what SQLite's own auto-checkpoint
// lets it reach when nothing holds it back (1000 pages of 4 KiB).
const DefaultWALLimit = 64 << 20

// The bounds of a forced checkpoint's pause of the writers: the first
// pause is walMinPause, each that fails doubles it up to walMaxPause, and
// after a failed one the next waits four times as long, so that writers are
// paused a fifth of the time at most.
const (
	walWakeFrames = 64 // new pages that wake the keeper once the log is past its trigger
	walMinPause   = 20 * time.Millisecond
	walMaxPause   = time.Second
)

// Why the WAL needs keeping.
//
// In WAL mode a commit appends pages to the log, and a checkpoint copies
// them back into the database file. A checkpoint copies only the pages no
// reader still needs, and the log starts over from its beginning only once
// every page was copied and no reader reads from the log at the moment a
// writer writes. SQLite's own auto-checkpoint (PASSIVE, after a commit
// that leaves 1000 pages or more) never waits for anybody, so readers that
// overlap without a break (a dashboard, a report, long read transactions
// restarted continuously) keep every checkpoint from completing, and the
// log grows for as long as they do: multi-GB WAL files.
//
// The WAL keeper (one per database, on a connection of its own):
//   - takes over SQLite's auto-checkpoint: each connection's wal_hook runs
//     it as SQLite would (PASSIVE, every "PRAGMA wal_autocheckpoint"
//     pages) on the committing writer's path when no other writer waits,
//     or wakes the keeper to run it when some do, and wakes the keeper
//     when the log reaches the trigger below;
//   - when the log file reaches half of "_wal_limit", it runs a TRUNCATE
//     checkpoint without waiting, which succeeds when readers allow: the
//     log starts over and its file is emptied;
//   - when readers do not allow, it takes its turn at the writer gate and
//     holds it, pausing this process's writers (they queue there, in order,
//     rather than spin on SQLite's lock), so that no new page reaches the
//     log, and runs TRUNCATE again,
//     waiting for the readers that read from the log to finish: new readers
//     read from the database file and do not hold it back. The pause is
//     bounded (20 ms at first, doubled after each that failed, 1 s at most,
//     then a gap of four times the pause), so a reader that never ends
//     costs the writers at most a fifth of their time, not their progress;
//   - a log over the limit that the longest pause did not reset is reported
//     as starved, in [Stats] and [Health], with how long it has been so.
//
// Without the writer gate ("_writer_gate=off") the forced checkpoint holds
// SQLite's write lock while it waits, and the writers wait in their busy
// handlers instead. Writers of other processes always do.

// WALStats describe the write-ahead log and its checkpoints (see
// [DatabaseStats] and [HealthReport]).
type WALStats struct {
	// Limit is the size the log is kept under ("_wal_limit"); 0 when the
	// keeping is off and SQLite's own auto-checkpoint runs.
	Limit int64
	// Bytes is the log file's size at the last checkpoint, MaxBytes the
	// largest it was seen.
	Bytes, MaxBytes int64
	// Frames is the number of pages in the log after the last commit.
	Frames int64
	// Passive counts PASSIVE checkpoints; Truncate counts TRUNCATE
	// checkpoints that reset the log (and emptied its file), Forced those
	// of them that paused the writers first, Busy the TRUNCATE attempts
	// readers kept from completing.
	Passive, Truncate, Forced, Busy uint64
	// LastCheckpoint is when the last checkpoint ran, LastTruncate when
	// the log was last reset.
	LastCheckpoint, LastTruncate time.Time
	// Paused is the time writers were held at the writer gate for forced
	// checkpoints, in total; LongestPause the longest such hold.
	Paused, LongestPause time.Duration
	// Waits counts the commits that left the log at three quarters of its
	// limit and waited for the keeper to reset it; Waited is their time.
	Waits  uint64
	Waited time.Duration
	// Starved says the log is near or over its limit and the longest pause
	// did not reset it: a reader keeps one read transaction open without
	// end. Commits then no longer wait, and the log grows until the reader
	// ends. StarvedSince is when that was first seen.
	Starved      bool
	StarvedSince time.Time
}

// WithWALLimit sets the size the write-ahead log is kept under (DSN:
// "_wal_limit", in bytes or with a unit: 64MB, 512KiB; default
// [DefaultWALLimit]). Zero turns the keeping off: SQLite's own
// auto-checkpoint runs, and long or continuous readers can make the log
// grow without bound. See the README's "The WAL stays bounded".
func WithWALLimit(bytes int64) Option {
	return func(c *config) { c.walLimit = max(bytes, 0) }
}

// parseSize accepts a number of bytes, or one with a unit: B, KB, MB, GB
// (powers of 1000), KiB, MiB, GiB (powers of 1024), any case.
func parseSize(v string) (int64, error) {
	s := strings.TrimSpace(v)
	num := strings.TrimRightFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	mult := int64(1)
	switch strings.ToLower(strings.TrimSpace(s[len(num):])) {
	case "", "b":
	case "kb":
		mult = 1000
	case "mb":
		mult = 1000 * 1000
	case "gb":
		mult = 1000 * 1000 * 1000
	case "kib":
		mult = 1 << 10
	case "mib":
		mult = 1 << 20
	case "gib":
		mult = 1 << 30
	default:
		num = ""
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("want a size of 0 or more in bytes, like 67108864, 64MB or 64MiB")
	}
	return n * mult, nil
}

// walKeeper keeps a database's write-ahead log under its limit.
type walKeeper struct {
	db      *database
	limit   int64
	minWait time.Duration // first pause of a forced checkpoint
	maxWait time.Duration // longest pause

	// Written by the wal_hook of every connection, on the committing
	// writer's path: atomics only.
	frames    atomic.Int64 // pages in the log after the last commit
	every     atomic.Int64 // pages between PASSIVE checkpoints (wal_autocheckpoint)
	pageBytes atomic.Int64 // a log frame's size: the page size plus its header
	ckptAt    atomic.Int64 // frames in the log at the last checkpoint
	wake      chan struct{}
	started   atomic.Bool
	parked    atomic.Int32 // commits waiting in the hook for the log to be reset
	starved   atomic.Bool  // mirrors stats.Starved for the hook

	// The keeper's own; only its goroutine touches them.
	conn      *sqlite3.Conn
	path      string
	pause     time.Duration // the next forced checkpoint's pause
	nextForce time.Time     // no forced checkpoint before this

	mu      sync.Mutex
	stats   WALStats
	resetCh chan struct{} // closed when the log is reset, then replaced
}

func newWALKeeper(db *database) *walKeeper {
	if db.cfg.walLimit <= 0 {
		return nil
	}
	w := &walKeeper{db: db, limit: db.cfg.walLimit, minWait: walMinPause, maxWait: walMaxPause, wake: make(chan struct{}, 1)}
	if p := db.cfg.walPause; p[0] > 0 {
		w.minWait, w.maxWait = p[0], p[1]
	}
	w.pause = w.minWait
	w.stats.Limit = w.limit
	w.resetCh = make(chan struct{})
	return w
}

// trigger is the log size at which the keeper resets the log: a quarter of
// its limit, so that the log stays under the limit while readers drain.
func (w *walKeeper) trigger() int64 { return w.limit / 4 }

// attach takes over SQLite's auto-checkpoint on a new connection: its
// wal_hook wakes the keeper instead. A nil keeper leaves SQLite's.
func (w *walKeeper) attach(raw *sqlite3.Conn) {
	if w == nil {
		return
	}
	if ro, _ := raw.ReadOnly("main"); ro {
		return
	}
	if every, err := pragmaInt(raw, "wal_autocheckpoint"); err == nil {
		w.every.Store(every)
	}
	if size, err := pragmaInt(raw, "page_size"); err == nil {
		w.pageBytes.Store(size + 24)
	}
	raw.WALHook(w.hook)
}

// hook is every connection's wal_hook: it runs after each commit in WAL
// mode, in the committing writer's call, once SQLite has released the
// write lock. It stands in for SQLite's auto-checkpoint (PASSIVE, once the
// commits since the last checkpoint leave "PRAGMA wal_autocheckpoint"
// pages, 1000 unless the DSN says otherwise), notes the log's size, and
// wakes the keeper once the log reaches its trigger: readers kept the log
// from starting over. A commit that leaves the log at three quarters of its
// limit or more waits there, up to the longest pause, for the keeper to
// reset it: with the writer gate, every writer of this process waits
// behind it, so that the log cannot outgrow the limit while the keeper
// works. When the log is starved (see [WALStats]) nothing waits.
//
// Where the PASSIVE checkpoint runs depends on the log and on who waits:
//   - the log under the keeper's trigger, not starved, and no writer
//     waiting at the writer gate: in the hook, on the committing
//     connection, as SQLite's own does. The writer's next commit finds the
//     whole log copied and starts it over, writing over its file rather
//     than past its end. (Run beside a lone writer instead, the checkpoint
//     finishes while the writer appends more, so the log never starts over;
//     its file grows to the trigger and is truncated, again and again, and
//     an autocommit INSERT took 26 % more CPU, 67.3 against 53.4 µs: bench/peers,
//     InsertAutocommit, and TestWALStartsOverUnderOneWriter.)
//   - writers wait, or group commit is on: on the keeper's goroutine, so
//     that the gate's holder (a group's leader) does not keep them waiting
//     through the checkpoint's writes and syncs;
//     past the trigger or starved: on the keeper's goroutine too, which
//     then resets the log and empties its file, and says when it is no
//     longer starved.
//
// The hook replaces SQLite's auto-checkpoint for every database of the
// connection: the log of an attached database is checkpointed as SQLite
// would have (PASSIVE, every walAttachedPages pages), and never counted
// as main's.
func (w *walKeeper) hook(c *sqlite3.Conn, schema string, pages int) error {
	if schema != "main" {
		if pages >= walAttachedPages {
			c.WALCheckpoint(schema, sqlite3.CHECKPOINT_PASSIVE)
		}
		return nil
	}
	n := int64(pages)
	at := w.ckptAt.Load()
	if n < at { // the log started over
		w.ckptAt.Store(0)
		at = 0
	}
	size := 32 + n*w.pageBytes.Load()
	// Past the trigger, the keeper is woken every walWakeFrames new pages,
	// not at every commit.
	wake := size >= w.trigger() && n-at >= walWakeFrames
	if every := w.every.Load(); every > 0 && n-at >= every {
		// The keeper checkpoints a log past its trigger or starved (it
		// resets both), and when writers wait (at the gate, or in group
		// commit's queue: with group commit on, they usually do); the
		// writer, the rest.
		if wake || w.starved.Load() || w.db.gate.contended() || w.db.group != nil {
			wake = true
		} else {
			w.passive(c, n)
		}
	}
	w.frames.Store(n)
	if wake {
		w.start()
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	if size >= w.danger() && !w.starved.Load() {
		w.park()
	}
	return nil
}

// passive runs a PASSIVE checkpoint of main on c, which has n pages in its
// log.
func (w *walKeeper) passive(c *sqlite3.Conn, n int64) {
	nLog, _, _ := c.WALCheckpoint("main", sqlite3.CHECKPOINT_PASSIVE)
	w.ckptAt.Store(max(int64(nLog), n))
	w.note(func(s *WALStats) {
		s.Passive++
		s.LastCheckpoint = time.Now()
	})
}

// walAttachedPages is SQLite's default auto-checkpoint, which the hook
// keeps for attached databases.
const walAttachedPages = 1000

// danger is the log size at which commits wait for the keeper.
func (w *walKeeper) danger() int64 { return w.limit / 4 * 3 }

// park waits until the keeper resets the log, the longest pause passes,
// or the database closes.
func (w *walKeeper) park() {
	w.mu.Lock()
	reset := w.resetCh
	w.mu.Unlock()
	w.parked.Add(1)
	defer w.parked.Add(-1)
	start := time.Now()
	t := time.NewTimer(w.maxWait)
	defer t.Stop()
	select {
	case <-reset:
	case <-t.C:
	case <-w.db.done:
	}
	held := time.Since(start)
	w.note(func(s *WALStats) {
		s.Waits++
		s.Waited += held
	})
}

// start starts the keeper's goroutine, once.
func (w *walKeeper) start() {
	if w.started.Load() || !w.started.CompareAndSwap(false, true) {
		return
	}
	d := w.db
	select {
	case <-d.done:
		return // closing: no new background work
	default:
	}
	d.background.Add(1)
	go func() {
		defer d.background.Done()
		defer w.close()
		retry := time.NewTimer(time.Hour)
		retry.Stop()
		for {
			select {
			case <-d.done:
				return
			case <-w.wake:
			case <-retry.C:
			}
			if again := w.checkpoint(d.ctx); again > 0 {
				retry.Reset(again)
			}
		}
	}()
}

func (w *walKeeper) close() {
	if w.conn != nil {
		w.conn.Close()
		w.conn = nil
	}
}

// open opens the keeper's connection on first use.
func (w *walKeeper) open(ctx context.Context) error {
	if w.conn != nil {
		return nil
	}
	dc, err := w.db.inner.Connect(ctx)
	if err != nil {
		return w.db.hideKey(err)
	}
	raw := dc.(ncruces.Conn).Raw()
	f := raw.Filename("main")
	if f == nil || f.String() == "" {
		dc.Close()
		return errors.New("qlsqlite: the database has no file, so no WAL to keep")
	}
	// A connection learns that the database is in WAL mode when it first
	// reads it; until then a checkpoint is a no-op that reports success
	// (and -1 frames).
	if err := raw.Exec(`SELECT count(*) FROM sqlite_schema`); err != nil {
		dc.Close()
		return err
	}
	w.conn, w.path = raw, f.String()
	return nil
}

// checkpoint runs what is due: a PASSIVE checkpoint, then, with the log at
// its trigger, a TRUNCATE that waits for no one, then a forced one. It
// returns when to try again (0: at the next commit that wakes it).
func (w *walKeeper) checkpoint(ctx context.Context) time.Duration {
	if err := w.open(ctx); err != nil {
		return 0
	}
	raw := w.conn
	raw.BusyTimeout(0)
	nLog, nCkpt, err := raw.WALCheckpoint("main", sqlite3.CHECKPOINT_PASSIVE)
	if nLog < 0 && err == nil {
		// The connection does not see a WAL: nothing to keep, and no
		// commit may wait for a reset that will not come.
		w.starved.Store(true)
		w.reset()
		return 0
	}
	w.ckptAt.Store(int64(max(nLog, 0)))
	w.note(func(s *WALStats) {
		s.Passive++
		s.LastCheckpoint = time.Now()
	})
	if err != nil && !errors.Is(err, sqlite3.BUSY) {
		return 0
	}
	w.starved.Store(false)
	size := w.size()
	if size < w.trigger() {
		w.reset()
		return 0
	}
	if wait := time.Until(w.nextForce); wait > 0 {
		return wait // a forced checkpoint failed lately: let the writers be
	}
	// When readers pin pages the passive checkpoint could not copy, a
	// TRUNCATE that waits for no one fails too, after holding SQLite's
	// write lock for its own try: skip it then.
	if nLog == nCkpt && err == nil && w.truncate(ctx, 0) {
		return 0
	}
	for {
		pause := w.pause
		if w.truncate(ctx, pause) {
			return 0
		}
		if ctx.Err() != nil {
			return 0
		}
		w.pause = min(2*pause, w.maxWait)
		size = w.size()
		switch {
		case size >= w.limit/2 && pause < w.maxWait:
			continue // the limit is near: try again at once, with a longer pause
		case size >= w.danger() && pause >= w.maxWait:
			w.starved.Store(true)
			w.note(func(s *WALStats) {
				if !s.Starved {
					s.Starved, s.StarvedSince = true, time.Now()
				}
			})
		}
		w.nextForce = time.Now().Add(4 * pause)
		return 4 * pause
	}
}

// truncate runs a TRUNCATE checkpoint. With pause > 0 it first pauses this
// process's writers at the writer gate, and waits up to pause in all for
// the readers that read from the log. It reports whether the log was reset.
func (w *walKeeper) truncate(ctx context.Context, pause time.Duration) bool {
	raw := w.conn
	forced := pause > 0
	if forced {
		// Commits parked in the hook pause the writers already (the
		// first of them holds the gate): do not wait for the gate then.
		// Otherwise wait for it in line with the writers, up to the
		// longest pause: waiting pauses nobody, holding it does, so the
		// pause is timed from when the gate is held.
		if w.parked.Load() == 0 {
			wait, cancel := context.WithTimeout(ctx, w.maxWait)
			_, err := w.db.gate.acquire(wait)
			cancel()
			if err != nil {
				w.note(func(s *WALStats) { s.Busy++ })
				return false
			}
			defer w.db.gate.release()
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, pause)
		defer cancel()
		old := raw.SetInterrupt(ctx)
		defer raw.SetInterrupt(old)
	}
	start := time.Now()
	raw.BusyTimeout(pause)
	nLog, _, err := raw.WALCheckpoint("main", sqlite3.CHECKPOINT_TRUNCATE)
	raw.BusyTimeout(0)
	held := time.Since(start)
	ok := err == nil && nLog == 0
	w.note(func(s *WALStats) {
		s.LastCheckpoint = time.Now()
		if forced {
			s.Paused += held
			s.LongestPause = max(s.LongestPause, held)
		}
		switch {
		case !ok:
			s.Busy++
		case forced:
			s.Forced++
			fallthrough
		default:
			s.Truncate++
			s.LastTruncate = s.LastCheckpoint
		}
	})
	if !ok {
		return false
	}
	w.ckptAt.Store(0)
	w.frames.Store(0)
	if forced {
		// The readers drained in held: start the next forced checkpoint
		// with room for as much again.
		w.pause = min(max(2*held, w.minWait), w.maxWait)
	}
	w.nextForce = time.Time{}
	w.size()
	w.reset()
	return true
}

// reset notes that the log is under its trigger again, and lets the
// commits parked in the hook go.
func (w *walKeeper) reset() {
	w.note(func(s *WALStats) {
		s.Starved, s.StarvedSince = false, time.Time{}
		close(w.resetCh)
		w.resetCh = make(chan struct{})
	})
}

// size reads the log file's size and notes it.
func (w *walKeeper) size() int64 {
	var n int64
	if fi, err := os.Stat(w.path + "-wal"); err == nil {
		n = fi.Size()
	}
	w.note(func(s *WALStats) {
		s.Bytes = n
		s.MaxBytes = max(s.MaxBytes, n)
	})
	return n
}

func (w *walKeeper) note(f func(*WALStats)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f(&w.stats)
}

// walStats returns the keeper's statistics; a database without a keeper
// reports only that.
func (d *database) walStats() WALStats {
	w := d.wal
	if w == nil {
		return WALStats{}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.stats
	s.Frames = w.frames.Load()
	return s
}

// problem says what is wrong with the log, or "" when nothing is.
func (s WALStats) problem() string {
	if !s.Starved {
		return ""
	}
	return fmt.Sprintf("the WAL is %d bytes (limit %d) and cannot be reset since %s: a read transaction that does not end keeps every checkpoint from completing (end long read transactions; see WALStats)",
		s.Bytes, s.Limit, s.StarvedSince.Format(time.RFC3339))
}
