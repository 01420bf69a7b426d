package qlsqlite

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
)

// DefaultStatsMax is how many fingerprints a database keeps statistics for
// ("_stats_max"), as pg_stat_statements.max: past it, the least-used are
// evicted to make room. See [WithStatsMax].
const DefaultStatsMax = 5000

// Eviction, as pg_stat_statements does it.
const (
	// evictPercent is the share of the table one eviction pass frees (at
	// least one fingerprint), so that a stream of new shapes pays for a pass
	// once every evictPercent% of the bound, not once per shape.
	evictPercent = 5
	// usageDecay multiplies every fingerprint's usage at each pass, so that
	// calls long past weigh less than recent ones: a query that was hot at
	// start-up and never ran again eventually makes room.
	usageDecay = 0.99
)

// statsTable is a database's table of fingerprints: the set of query shapes
// that statistics are kept for, at most max of them. Each connection keeps
// the counters of the fingerprints it ran in its own [shard]; the table
// decides which fingerprints exist, and evicts the least-used when a new
// one would not fit.
//
// What a call pays: nothing here. A connection that meets a fingerprint it
// has no record of (the cold path: the first time it sees the shape, after
// normalizing the text) takes mu to find or admit its entry. A call whose
// SQL text the connection has seen only loads epoch, which changes once per
// eviction pass, to learn whether records it holds were evicted.
//
// Lock order: mu, then database.mu, then a shard's mu.
type statsTable struct {
	max int

	// epoch is bumped at the end of each eviction pass; a connection that
	// sees it change drops its evicted records (see [shard.sweep]).
	epoch atomic.Uint64
	// evictions counts the fingerprints evicted since the database
	// opened (the metric is a monotonic counter); [Stats] reports those
	// since the statistics started, after evictionsAtReset.
	evictions atomic.Uint64

	mu               sync.Mutex
	entries          map[string]*statsEntry // by fingerprint ID
	seq              uint64                 // admissions so far
	evictionsAtReset uint64
	order            []*statsEntry // scratch of evict
}

// statsEntry is one fingerprint of the table: what every connection's
// record of it shares.
type statsEntry struct {
	fp   Fingerprint
	meta queryMeta // for spans and metrics; immutable

	// dead is set when the entry is evicted: records of it take no more
	// calls, and connections drop them.
	dead atomic.Bool

	// Guarded by the table's mu; see evict.
	seq       uint64  // admission order: among equal usage, the oldest goes first
	usage     float64 // decayed calls, as of the last pass
	seen      uint64  // calls counted into usage so far
	passCalls uint64  // scratch of evict
}

func newStatsTable(bound int) *statsTable {
	return &statsTable{max: bound, entries: make(map[string]*statsEntry)}
}

// admit returns the entry of fp, adding it (and evicting others to make
// room) if the table has none. query is a SQL text of fp, for its summary.
func (t *statsTable) admit(o *observability, fp Fingerprint, query string) *statsEntry {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.entries[fp.ID]; ok {
		return e
	}
	if len(t.entries) >= t.max {
		t.evict(o)
	}
	t.seq++
	// A new entry counts the call that admits it, so that a pass running
	// before that call ends does not take it for unused.
	e := &statsEntry{fp: fp, meta: o.tel.meta(fp, summarize(query)), seq: t.seq, usage: 1, seen: 1}
	t.entries[fp.ID] = e
	return e
}

// evict removes the least-used evictPercent% of the entries (at least one)
// and their records from every connection, keeping their calls in the
// database's totals. t.mu is held.
//
// An entry's usage is its calls, each pass multiplying what it had by
// usageDecay before adding the calls made since the previous pass, the
// rule of pg_stat_statements. Calls rather than total time: a one-off
// statement (a migration, an import, an admin query) has one call however
// long it took, and is what the table must let go first; by total time, a
// slow one-off would outrank a lookup run a million times, and a long-lived
// process would fill its table with its start-up. Slow calls are kept
// anyway by the slow-query log.
func (t *statsTable) evict(o *observability) {
	db := o.db
	db.mu.Lock()
	defer db.mu.Unlock()

	for _, e := range t.entries {
		e.passCalls = 0
	}
	for _, r := range o.closed {
		r.passCalls += r.counters.calls
	}
	for c := range db.conns {
		s := &c.stats
		s.mu.Lock()
		for _, r := range s.fps {
			r.passCalls += r.counters.calls
		}
		s.mu.Unlock()
	}
	order := t.order[:0]
	for _, e := range t.entries {
		e.usage = e.usage*usageDecay + float64(e.passCalls-min(e.seen, e.passCalls))
		e.seen = max(e.seen, e.passCalls)
		order = append(order, e)
	}
	slices.SortFunc(order, func(a, b *statsEntry) int {
		if c := cmp.Compare(a.usage, b.usage); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	victims := order[:max(len(order)*evictPercent/100, 1)]
	for _, e := range victims {
		e.dead.Store(true)
		delete(t.entries, e.fp.ID)
		if r, ok := o.closed[e.fp.ID]; ok {
			o.dropped.add(&r.counters)
			delete(o.closed, e.fp.ID)
		}
	}
	for c := range db.conns {
		s := &c.stats
		s.mu.Lock()
		for _, e := range victims {
			if r, ok := s.fps[e.fp.ID]; ok && r.statsEntry == e {
				o.dropped.add(&r.counters)
				delete(s.fps, e.fp.ID)
			}
		}
		s.mu.Unlock()
	}
	t.evictions.Add(uint64(len(victims)))
	clear(order) // keep no evicted entry alive
	t.order = order[:0]
	t.epoch.Add(1)
}

// size returns the number of fingerprints in the table.
func (t *statsTable) size() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries)
}

// state returns the number of fingerprints in the table and the evictions
// since the statistics started.
func (t *statsTable) state() (size int, evictions uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries), t.evictions.Load() - t.evictionsAtReset
}

// resetUsage starts every entry's usage, and the count of evictions, over
// with the statistics (see [ResetStats]); t.mu is held.
func (t *statsTable) resetUsage() {
	for _, e := range t.entries {
		e.usage, e.seen = 0, 0
	}
	t.evictionsAtReset = t.evictions.Load()
}
