package qlsqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quantumleap/qlsqlite/internal/history"
)

// The statistics history: what the statistics were minute by minute, kept
// in a SQLite file of its own so that the monitoring page (see [Handler])
// can show any window of the last 14 days, and the alert window and the
// pages survive a restart.
//
// One goroutine per database writes it: every minute it takes a snapshot
// of the statistics (as [Stats] does, off the query path), subtracts the
// previous one, and writes the difference per fingerprint, histogram
// included. The live statistics are never reset for it. Closing the
// database writes the last partial minute and waits for the goroutine.

// Defaults of the history (DSN: "_history_retention", "_history_max_size").
const (
	// DefaultHistoryRetention is how long the history keeps its hourly
	// rows, alerts and events; per-minute rows are kept two days, then
	// rolled up into hourly ones.
	DefaultHistoryRetention = history.DefaultRetention
	// DefaultHistoryMaxSize bounds the space the history's rows take, in
	// bytes: past it, the oldest rows are deleted first.
	DefaultHistoryMaxSize = history.DefaultMaxBytes
)

// historyInterval is how often the history writes a period.
const historyInterval = time.Minute

// WithHistory keeps the database's statistics history in the SQLite file
// at path (DSN: "_history=PATH"), from the first connection on ([Open]
// opens it before it returns and fails if it cannot). Without it, the
// history starts when [Handler] serves the database's pages, in a file
// beside the database (see [HistoryPath]), except for a
// database in memory, which gets none. [WithoutHistory] turns it off.
//
// The file holds the fingerprints' texts (literals and arguments replaced,
// never a value), their figures minute by minute, the database's (calls,
// connections, size, WAL, breaker), the alerts, the captured plans and the
// maintenance done. An encrypted database's history is encrypted with its
// VFS and key. One process writes a history file at a time; "qlsqlite
// serve" reads it from another.
func WithHistory(path string) Option {
	return func(c *config) { c.obs.history, c.obs.historyOff = path, false }
}

// WithoutHistory turns the history off (DSN: "_history=off"): [Handler]
// then shows the statistics since the database was opened only.
func WithoutHistory() Option {
	return func(c *config) { c.obs.history, c.obs.historyOff = "", true }
}

// WithHistoryRetention sets how long the history keeps its hourly rows,
// alerts and events (DSN: "_history_retention"; default
// [DefaultHistoryRetention]). Per-minute rows are kept two days, or d if
// shorter.
func WithHistoryRetention(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.obs.historyRetention = d
		}
	}
}

// WithHistoryMaxSize bounds the space the history's rows take, in bytes
// (DSN: "_history_max_size", in bytes or with a unit: KB, MB, GB, KiB,
// MiB, GiB; default [DefaultHistoryMaxSize]). Past it the oldest rows are deleted, the last
// hour always kept, and the free pages given back to the file system.
func WithHistoryMaxSize(bytes int64) Option {
	return func(c *config) {
		if bytes > 0 {
			c.obs.historyMaxBytes = bytes
		}
	}
}

// HistoryPath is where the history of the database file at dbPath is kept
// when [WithHistory] gives no path: beside it, "-history" added to its
// name (trading.db keeps trading-history.db). "qlsqlite serve" looks there.
func HistoryPath(dbPath string) string {
	return strings.TrimSuffix(dbPath, filepath.Ext(dbPath)) + "-history.db"
}

// historyWriter writes a database's history.
type historyWriter struct {
	o     *observability
	d     *database
	store *history.Store
	clock Clock

	events   chan historyEvent
	flushReq chan flushRequest
	done     chan struct{}
	exited   chan struct{}
	stopOnce sync.Once

	// The writer goroutine's own state.
	prev       deltaTracker
	lastAt     time.Time
	lastTotals totals
	lastPool   sql.DBStats
	lastEvict  uint64
	maintained time.Time            // the last Maintain
	plans      map[string]time.Time // captured_at of the plans written

	lastErr atomic.Pointer[string]       // the last write error, for the page
	dropped atomic.Int64                 // events dropped: the queue was full
	written atomic.Pointer[writtenState] // what the last period written ended with, for the page
}

// writtenState is the snapshot the last period written ended with: the
// page adds what happened since to the history's rows.
type writtenState struct {
	at    time.Time
	since time.Time
	recs  map[string]*queryRecord // never changed once kept
}

// pending returns what each fingerprint did since the last period
// written, and when that was; ok is false before the first.
func (h *historyWriter) pending(m mergedStats) (deltas []history.QueryDelta, at time.Time) {
	w := h.written.Load()
	t := deltaTracker{since: w.since, prev: w.recs}
	t.advance(m, func(_ *queryRecord, d history.QueryDelta) { deltas = append(deltas, d) })
	return deltas, w.at
}

// historyEvent is an alert or a maintenance event for the history.
type historyEvent struct {
	alert *history.AlertEvent
	event *history.Event
}

type flushRequest struct {
	at   time.Time
	done chan error
}

// history returns the database's history writer, nil when none runs.
func (o *observability) history() *historyWriter {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.hist
}

// startHistory opens the history at path and starts its writer, unless
// one runs already (then it returns that one). sqlDB may be nil.
func (d *database) startHistory(ctx context.Context, path string) (*historyWriter, error) {
	o := d.obs
	o.histStart.Lock()
	defer o.histStart.Unlock()
	if h := o.history(); h != nil {
		return h, nil
	}
	select {
	case <-d.done:
		return nil, errors.New("qlsqlite: the database is closed")
	default:
	}
	store, err := history.Open(ctx, path, history.Options{
		Database:   d.obs.dialect.namespace(),
		Encryption: d.atRest,
		Retention:  o.cfg.historyRetention,
		MaxBytes:   o.cfg.historyMaxBytes,
	})
	if err != nil {
		return nil, fmt.Errorf("qlsqlite: %w", err)
	}
	h := &historyWriter{
		o:        o,
		d:        d,
		store:    store,
		clock:    o.clock,
		events:   make(chan historyEvent, 256),
		flushReq: make(chan flushRequest),
		done:     make(chan struct{}),
		exited:   make(chan struct{}),
		plans:    map[string]time.Time{},
	}
	// The baseline: what the statistics hold now is not the history's
	// (for a history started with the first connection, that is nothing).
	m := o.merged()
	now := o.clock.Now()
	h.prev.advance(m, nil)
	h.written.Store(&writtenState{at: now, since: m.since, recs: m.recs})
	h.lastAt, h.lastTotals = now, m.totals()
	if db := d.sqlDB(); db != nil {
		h.lastPool = db.Stats()
	}
	h.lastEvict = o.table.evictions.Load()
	o.restore(ctx, store, now)

	ticks, stop := o.clock.Ticker(historyInterval)
	if !d.goBackground(func(context.Context) { h.run(ticks, stop) }) {
		stop()
		store.Close()
		return nil, errors.New("qlsqlite: the database is closed")
	}
	o.mu.Lock()
	o.hist = h
	o.mu.Unlock()
	return h, nil
}

// startConfiguredHistory starts the history configured with WithHistory
// or "_history", if any. An error is logged and kept for the page: the
// database works without its history.
func (d *database) startConfiguredHistory(ctx context.Context) error {
	cfg := &d.obs.cfg
	if cfg.historyOff || cfg.history == "" || d.obs.history() != nil {
		return nil
	}
	_, err := d.startHistory(ctx, cfg.history)
	if err != nil {
		d.obs.histErr.Store(&historyErr{err})
	}
	return err
}

type historyErr struct{ err error }

func (h *historyWriter) run(ticks <-chan time.Time, stopTicker func()) {
	defer close(h.exited)
	defer stopTicker()
	for {
		select {
		case <-h.done:
			h.drain()
			h.flush(h.clock.Now(), true)
			h.store.Close()
			return
		case now := <-ticks:
			h.drain()
			h.flush(now, false)
		case r := <-h.flushReq:
			h.drain()
			r.done <- h.flush(r.at, false)
		case e := <-h.events:
			h.write(e)
		}
	}
}

// stop writes the last period and closes the file; the database's Close
// calls it before it closes the connection the storage figures are read
// on.
func (h *historyWriter) stop() {
	h.stopOnce.Do(func() { close(h.done) })
	<-h.exited
}

// flushNow writes a period ending at at, and returns the write's error.
func (h *historyWriter) flushNow(ctx context.Context, at time.Time) error {
	r := flushRequest{at: at, done: make(chan error, 1)}
	select {
	case h.flushReq <- r:
	case <-h.exited:
		return errors.New("qlsqlite: the history is closed")
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// event queues an event for the history; it never blocks: when the queue
// is full the event is counted and dropped.
func (h *historyWriter) event(e historyEvent) {
	select {
	case h.events <- e:
	default:
		h.dropped.Add(1)
	}
}

// drain writes the events queued.
func (h *historyWriter) drain() {
	for {
		select {
		case e := <-h.events:
			h.write(e)
		default:
			return
		}
	}
}

func (h *historyWriter) write(e historyEvent) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var err error
	switch {
	case e.alert != nil:
		err = h.store.AddAlert(ctx, *e.alert)
	case e.event != nil:
		err = h.store.AddEvent(ctx, *e.event)
	}
	h.failed(err)
}

// failed keeps and logs a write error.
func (h *historyWriter) failed(err error) {
	if err == nil {
		h.lastErr.Store(nil)
		return
	}
	msg := err.Error()
	if p := h.lastErr.Load(); p == nil || *p != msg {
		logger := h.o.cfg.logger
		if logger == nil {
			logger = slog.Default()
		}
		logger.Warn("qlsqlite: writing the statistics history", slog.String("error", msg), slog.String("history", h.store.Path()))
	}
	h.lastErr.Store(&msg)
}

// flush writes the period since the last one, ending at now; final says
// the database is closing.
func (h *historyWriter) flush(now time.Time, final bool) error {
	if !now.After(h.lastAt) {
		now = h.lastAt.Add(time.Millisecond) // periods end in order
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := h.period(ctx, now)
	err := h.store.Write(ctx, p)
	if err == nil && !final && (now.Sub(h.maintained) >= maintainEvery || now.Truncate(time.Hour) != h.maintained.Truncate(time.Hour)) {
		if err = h.store.Maintain(ctx, now); err == nil {
			h.maintained = now
		}
	}
	h.failed(err)
	return err
}

// maintainEvery is how often the writer rolls the history up, prunes and
// bounds it, besides at each new hour.
const maintainEvery = 10 * time.Minute

// period takes a snapshot and returns the period since the previous one.
func (h *historyWriter) period(ctx context.Context, now time.Time) history.Period {
	o := h.o
	m := o.merged()
	p := history.Period{At: now, Span: now.Sub(h.lastAt)}
	h.prev.advance(m, func(_ *queryRecord, d history.QueryDelta) { p.Queries = append(p.Queries, d) })
	h.written.Store(&writtenState{at: now, since: m.since, recs: m.recs})

	tot := m.totals()
	base := h.lastTotals
	if tot.calls < base.calls { // reset since: the totals start over
		base = totals{}
	}
	ds := &p.Database
	ds.Calls, ds.Errors = tot.calls-base.calls, tot.errors-min(base.errors, tot.errors)
	ds.WaitedCalls, ds.Waited = tot.waitedCalls-min(base.waitedCalls, tot.waitedCalls), tot.waited-min(base.waited, tot.waited)
	ds.SizeBytes, ds.WALBytes, ds.FreePages, ds.PageSize = -1, -1, -1, -1
	sqlDB := h.d.sqlDB()
	if st, err := o.dialect.storage(ctx, sqlDB); err == nil {
		ds.SizeBytes, ds.WALBytes, ds.FreePages, ds.PageSize = st.SizeBytes, st.WALBytes, st.FreelistPages, st.PageSize
	}
	h.poolFigures(ds, sqlDB, now)
	ds.Breaker = h.d.breakerState()
	ds.Fingerprints = o.table.size()
	ev := o.table.evictions.Load()
	ds.Evictions, h.lastEvict = ev-min(h.lastEvict, ev), ev
	h.lastAt, h.lastTotals = now, tot

	for _, plan := range h.d.planner.plans.Values() {
		if at, ok := h.plans[plan.Fingerprint.ID]; ok && !plan.CapturedAt.After(at) {
			continue
		}
		h.plans[plan.Fingerprint.ID] = plan.CapturedAt
		p.Plans = append(p.Plans, history.Plan{ID: plan.Fingerprint.ID, CapturedAt: plan.CapturedAt, SchemaVersion: plan.SchemaVersion, Text: plan.String()})
	}
	return p
}

// poolFigures fills in the connections: their mean over the samples the
// monitor and Stats took in the period, and the pool now.
func (h *historyWriter) poolFigures(ds *history.DatabaseSample, sqlDB *sql.DB, now time.Time) {
	if sqlDB == nil {
		return
	}
	cur := sqlDB.Stats()
	open, inUse, idle, n := float64(cur.OpenConnections), float64(cur.InUse), float64(cur.Idle), 1.0
	ds.MaxInUse = cur.InUse
	o := h.o
	o.mu.Lock()
	for _, s := range o.samples {
		if s.at.After(h.lastAt) && !s.at.After(now) {
			open += float64(s.pool.OpenConnections)
			inUse += float64(s.pool.InUse)
			idle += float64(s.pool.Idle)
			ds.MaxInUse = max(ds.MaxInUse, s.pool.InUse)
			n++
		}
	}
	o.mu.Unlock()
	ds.Open, ds.InUse, ds.Idle = open/n, inUse/n, idle/n
	ds.MaxOpen = cur.MaxOpenConnections
	prev := h.lastPool
	if cur.WaitCount < prev.WaitCount {
		prev = sql.DBStats{}
	}
	ds.WaitCount, ds.WaitDuration = cur.WaitCount-prev.WaitCount, cur.WaitDuration-prev.WaitDuration
	h.lastPool = cur
}

// deltaTracker turns snapshots of the cumulative statistics into what
// happened between them, per fingerprint, without resetting anything.
type deltaTracker struct {
	since time.Time
	prev  map[string]*queryRecord
}

// advance compares m with the previous snapshot and calls emit (if not
// nil) with the delta of each fingerprint called since. A fingerprint
// evicted and admitted again, or statistics reset, count from zero.
func (t *deltaTracker) advance(m mergedStats, emit func(*queryRecord, history.QueryDelta)) {
	reset := !m.since.Equal(t.since)
	if emit != nil {
		for id, r := range m.recs {
			var p *queryRecord
			if !reset {
				if q, ok := t.prev[id]; ok && q.statsEntry == r.statsEntry && q.counters.calls <= r.counters.calls {
					p = q
				}
			}
			if d, ok := queryDelta(r, p); ok {
				emit(r, d)
			}
		}
	}
	t.prev, t.since = m.recs, m.since
}

// queryDelta returns what cur did since prev (nil: since it started), and
// false when it was not called.
func queryDelta(cur, prev *queryRecord) (history.QueryDelta, bool) {
	c := &cur.counters
	var p queryCounters
	if prev != nil {
		p = prev.counters
	}
	if c.calls == p.calls {
		return history.QueryDelta{}, false
	}
	d := history.QueryDelta{
		ID:      cur.fp.ID,
		Text:    cur.fp.Text,
		Summary: cur.meta.spanName,
		Calls:   c.calls - p.calls,
		Rows:    c.rows - min(p.rows, c.rows),
		Total:   c.total - min(p.total, c.total),
		Waited:  c.waited - min(p.waited, c.waited),
		Hits:    c.hits - min(p.hits, c.hits),
		Misses:  c.misses - min(p.misses, c.misses),
		Hist:    histDelta(&c.hist, &p.hist),
	}
	for class, n := range c.errors {
		if n > p.errors[class] {
			if d.Errors == nil {
				d.Errors = map[string]uint64{}
			}
			d.Errors[class] = n - p.errors[class]
		}
	}
	// The cumulative max says the period's only when it grew; otherwise
	// the top of the period's histogram does, within its precision.
	if c.max > p.max {
		d.Max = c.max
	} else {
		d.Max = min(histQuantile(d.Hist, 1), c.max)
	}
	return d, true
}

// histDelta returns the buckets of cur less those of prev, an earlier
// state of the same histogram, in the history's sparse form.
func histDelta(cur, prev *histogram) history.Hist {
	var out history.Hist
	for g, cg := range cur.groups {
		if cg == nil {
			continue
		}
		pg := prev.groups[g]
		for s, n := range cg {
			if pg != nil {
				n -= min(pg[s], n)
			}
			if n > 0 {
				out = append(out, history.Bucket{Index: uint16(g*histSub + s), Count: n})
			}
		}
	}
	return out
}

// histQuantile is [histogram.quantile] of a histogram in the history's
// form.
func histQuantile(h history.Hist, q float64) time.Duration {
	n := h.Count()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q*float64(n) - 1e-9))
	rank = min(max(rank, 1), n)
	var seen uint64
	for _, b := range h {
		seen += b.Count
		if seen >= rank {
			return time.Duration(bucketValue(int(b.Index)/histSub, int(b.Index)%histSub))
		}
	}
	return 0
}

// toHistogram returns h as a histogram.
func toHistogram(h history.Hist) *histogram {
	out := &histogram{}
	for _, b := range h {
		g, s := int(b.Index)/histSub, int(b.Index)%histSub
		if g >= histGroups {
			continue
		}
		if out.groups[g] == nil {
			out.groups[g] = new([histSub]uint64)
		}
		out.groups[g][s] += b.Count
		out.count += b.Count
	}
	return out
}
