package qlsqlite

import (
	"cmp"
	"context"
	"database/sql"
	"maps"
	"slices"
	"sync"
	"time"
)

// maxTexts is how many SQL texts one connection remembers the fingerprint
// of; past it the memory starts over. How many fingerprints are kept is the
// database's bound, "_stats_max" (see [statsTable]).
const maxTexts = 4096

// shard holds one connection's statistics. The connection's goroutine of
// the moment writes it under mu, which only [Stats] (and [ResetStats], the
// monitor, and an eviction pass) take besides: no lock is shared by all
// goroutines on the query path.
type shard struct {
	texts    map[string]*queryRecord // SQL text to record; the connection's goroutine only
	last     *queryRecord            // the record of lastText: a statement run again skips the map
	lastText string
	epoch    uint64 // the table's epoch when the records above were last swept

	mu   sync.Mutex
	fps  map[string]*queryRecord // by fingerprint ID
	lost totals                  // calls that ended after their fingerprint was evicted
}

// queryRecord is what a connection knows about one fingerprint: the
// table's entry, and the connection's counters.
type queryRecord struct {
	*statsEntry
	counters queryCounters // guarded by the shard's mu
}

// queryCounters are the statistics of one fingerprint.
type queryCounters struct {
	calls       uint64
	rows        uint64
	errors      map[string]uint64 // by class; nil until the first error
	total       time.Duration
	max         time.Duration
	waited      time.Duration
	waitedCalls uint64
	hits        uint64
	misses      uint64
	hist        histogram
}

// record returns the record of query, normalizing it only the first time
// this connection sees the text.
func (s *shard) record(o *observability, query string) *queryRecord {
	if e := o.table.epoch.Load(); e != s.epoch {
		s.sweep(e)
	}
	if s.last != nil && query == s.lastText {
		return s.last
	}
	r, ok := s.texts[query]
	if !ok {
		r = s.admit(o, query)
		if s.texts == nil || len(s.texts) >= maxTexts {
			s.texts = make(map[string]*queryRecord)
		}
		s.texts[query] = r
	}
	s.last, s.lastText = r, query
	return r
}

// sweep forgets the texts whose fingerprint was evicted, as of the table's
// epoch e, so that their next call admits the fingerprint anew and the
// evicted records are freed.
func (s *shard) sweep(e uint64) {
	s.epoch = e
	if s.last != nil && s.last.dead.Load() {
		s.last, s.lastText = nil, ""
	}
	for text, r := range s.texts {
		if r.dead.Load() {
			delete(s.texts, text)
		}
	}
}

// admit returns the connection's record of query's fingerprint, creating it
// (and the fingerprint's entry in the database's table) if there is none.
//
// A record in fps always belongs to a live entry once the pass that
// evicted its entry has ended: the pass removes it, and a record is only
// added after checking, under the shard's mu, that its entry is alive (the
// pass marks entries dead before it visits any shard).
func (s *shard) admit(o *observability, query string) *queryRecord {
	fp := FingerprintOf(query)
	for {
		s.mu.Lock()
		r, ok := s.fps[fp.ID]
		s.mu.Unlock()
		if ok && !r.dead.Load() {
			return r
		}
		// Absent, or evicted by a pass still running: admit waits for it.
		e := o.table.admit(o, fp, query)
		s.mu.Lock()
		if !e.dead.Load() {
			r = &queryRecord{statsEntry: e}
			if s.fps == nil {
				s.fps = make(map[string]*queryRecord)
			}
			s.fps[fp.ID] = r
			s.mu.Unlock()
			return r
		}
		// Another connection's pass evicted it already (a pass needs a
		// new fingerprint of its own: the others move on): again.
		s.mu.Unlock()
	}
}

// count counts one call of r.
func (s *shard) count(r *queryRecord, d time.Duration, rows int64, class string, waited time.Duration, cache cacheUse) {
	s.mu.Lock()
	if r.dead.Load() {
		s.lost.addCall(class != "", waited)
	} else {
		r.counters.add(d, rows, class, waited, cache)
	}
	s.mu.Unlock()
}

// add counts one call.
func (c *queryCounters) add(d time.Duration, rows int64, class string, waited time.Duration, cache cacheUse) {
	c.calls++
	if rows > 0 {
		c.rows += uint64(rows)
	}
	if class != "" {
		if c.errors == nil {
			c.errors = make(map[string]uint64, 2)
		}
		c.errors[class]++
	}
	c.total += d
	c.max = max(c.max, d)
	if waited > 0 {
		c.waited += waited
		c.waitedCalls++
	}
	switch cache {
	case cacheHit:
		c.hits++
	case cacheMiss:
		c.misses++
	}
	c.hist.record(d)
}

// merge adds o to c.
func (c *queryCounters) merge(o *queryCounters) {
	c.calls += o.calls
	c.rows += o.rows
	for class, n := range o.errors {
		if c.errors == nil {
			c.errors = make(map[string]uint64, len(o.errors))
		}
		c.errors[class] += n
	}
	c.total += o.total
	c.max = max(c.max, o.max)
	c.waited += o.waited
	c.waitedCalls += o.waitedCalls
	c.hits += o.hits
	c.misses += o.misses
	c.hist.merge(&o.hist)
}

// reset zeroes c, keeping its histogram's memory.
func (c *queryCounters) reset() {
	hist := c.hist
	hist.reset()
	*c = queryCounters{hist: hist}
}

func (c *queryCounters) errorCount() (n uint64) {
	for _, e := range c.errors {
		n += e
	}
	return n
}

// Snapshot is the statistics of a database at one moment; see [Stats].
type Snapshot struct {
	// Since is when the statistics started: when the database was opened,
	// or last reset with [ResetStats].
	Since time.Time
	// At is when the snapshot was taken.
	At time.Time
	// Queries holds one entry per fingerprint, the largest total time first,
	// like PostgreSQL's pg_stat_statements: at most "_stats_max" of them
	// (see [WithStatsMax]). Empty when statistics are off ("_stats=off").
	Queries []QueryStats
	// Database holds the statistics of the database as a whole.
	Database DatabaseStats
	// Monitored says a monitor evaluates the database's alerts (see
	// [Monitor]); Alerts holds the alerts firing now.
	Monitored bool
	Alerts    []Alert
	// Integrity is the last integrity check (see [CheckIntegrity]), nil
	// when none has run since the database was opened.
	Integrity *IntegrityReport
}

// QueryStats are the statistics of one fingerprint: every call whose SQL
// normalizes to it, on every connection the database has had.
//
// A call is one Exec, one Query (until its rows are closed), or one BEGIN,
// COMMIT or ROLLBACK (recorded under the fingerprints "BEGIN", "COMMIT"
// and "ROLLBACK"). Preparing a statement is not a call; running it is.
type QueryStats struct {
	Fingerprint Fingerprint
	// Calls is the number of calls, failed ones included.
	Calls uint64
	// Errors counts the failed calls by class: "connection", "query",
	// "performance" (busy, locked, deadline), "migration" or "integrity"
	// (constraints), or "other".
	Errors map[string]uint64
	// Rows is the number of rows returned by queries and changed by
	// INSERT, UPDATE, DELETE and REPLACE.
	Rows uint64
	// Total and Mean are the time the calls took, from the call until its
	// rows were closed; Max is the longest call. P50, P95 and P99 are
	// percentiles of the calls' durations, within 2% of the exact value.
	Total, Mean, Max, P50, P95, P99 time.Duration
	// Waited is the time the calls spent waiting for the database (for the
	// writer gate, between busy retries), part of Total.
	Waited time.Duration
	// CacheHits and CacheMisses count the calls whose statement came from
	// the per-connection statement cache, or had to be prepared;
	// CacheHitRatio is CacheHits / (CacheHits + CacheMisses), 0 when the
	// statement never went through the cache (a prepared [sql.Stmt], an
	// Exec without arguments).
	CacheHits, CacheMisses uint64
	CacheHitRatio          float64
	// Plan is the query plan captured for the fingerprint (see
	// [CapturedPlans]), or nil when none was captured yet.
	Plan *Plan
}

// ErrorCount is the number of failed calls.
func (q QueryStats) ErrorCount() (n uint64) {
	for _, e := range q.Errors {
		n += e
	}
	return n
}

// DatabaseStats are the statistics of a database as a whole.
type DatabaseStats struct {
	// Namespace is the database's name in spans and metrics (db.namespace):
	// its file name as the DSN gave it.
	Namespace string
	// Calls, Errors and Waited are the totals of every call since the
	// statistics started, those of evicted fingerprints included.
	Calls, Errors uint64
	Waited        time.Duration
	// Fingerprints is how many fingerprints the statistics hold now, at
	// most MaxFingerprints ("_stats_max", [WithStatsMax]); Queries lists
	// those called since the statistics started.
	// FingerprintEvictions counts the fingerprints evicted since the
	// statistics started to make room for new ones, the least-used first
	// (like pg_stat_statements_info.dealloc, which counts eviction passes
	// instead). Evictions that keep growing mean the workload has more
	// shapes than the bound: raise it, or look for SQL built with values
	// the fingerprint cannot normalize (table names, column lists).
	Fingerprints, MaxFingerprints int
	FingerprintEvictions          uint64
	// Window is the period OpsPerSecond and ErrorRate are computed over:
	// the sliding alert window (5 minutes unless [AlertThresholds].Window
	// says otherwise) when earlier samples cover it (each monitor tick and
	// each call of [Stats] takes one, at most one a second), else the time
	// since the statistics started.
	Window       time.Duration
	OpsPerSecond float64
	ErrorRate    float64 // failed calls / calls
	// GrowthBytesPerHour is the change of Storage.SizeBytes since the
	// earliest sample in the window that read it; 0 without one.
	GrowthBytesPerHour float64
	// Pool is the connection pool's state, from [sql.DB.Stats].
	Pool PoolStats
	// Storage is the database's size on disk; StorageError says why it
	// could not be read, if it could not.
	Storage      StorageStats
	StorageError string
	// StmtCache sums the statement cache counters of every connection.
	StmtCache StmtCacheStats
	// WAL is the write-ahead log's size and checkpoints (see WALStats).
	WAL WALStats
	// Breaker is the circuit breaker's state ("closed", "half-open",
	// "open"), or "" when the database has none.
	Breaker string
	// GroupCommit is the statistics of group commit, when it is on.
	GroupCommit GroupCommitStats
}

// PoolStats is the state of a connection pool.
type PoolStats struct {
	sql.DBStats
	// Utilization is InUse / MaxOpenConnections, or 0 when the number of
	// open connections is not limited (see [sql.DB.SetMaxOpenConns]).
	Utilization float64
}

func poolStats(db *sql.DB) PoolStats {
	s := PoolStats{DBStats: db.Stats()}
	if s.MaxOpenConnections > 0 {
		s.Utilization = float64(s.InUse) / float64(s.MaxOpenConnections)
	}
	return s
}

// StmtCacheStats sum the statement cache counters of every connection the
// database has had.
type StmtCacheStats struct {
	Hits, Misses, Evictions uint64
	HitRatio                float64 // Hits / (Hits + Misses)
}

// Stats returns the statistics of db, which must have been opened with the
// qlsqlite driver, by [sql.Open] or by [Open]; any other [*sql.DB] is an
// error.
//
// Taking a snapshot locks each connection's statistics in turn while it
// adds them up; queries on other connections go on meanwhile. The storage
// figures are read on a connection of their own, bounded by 10 seconds.
func Stats(db *sql.DB) (Snapshot, error) {
	d, err := stateOf(db)
	if err != nil {
		return Snapshot{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return d.obs.snapshot(ctx, db), nil
}

// ResetStats forgets the statistics of db gathered so far, on every
// connection: [Stats] then counts from now. Captured plans and alerts that
// are firing stay.
func ResetStats(db *sql.DB) error {
	d, err := stateOf(db)
	if err != nil {
		return err
	}
	d.obs.reset()
	return nil
}

// mergedStats are the statistics of every connection the database has
// had, added up by fingerprint.
type mergedStats struct {
	recs  map[string]*queryRecord // by fingerprint ID
	since time.Time
	// dropped counts the calls of evicted fingerprints, which recs no
	// longer hold; the database's totals include them.
	dropped totals
}

// totals returns the database-wide counters.
func (m *mergedStats) totals() totals {
	t := totalsOf(m.recs)
	t.merge(m.dropped)
	return t
}

// merged adds up the statistics of every connection the database has had,
// by fingerprint.
func (o *observability) merged() mergedStats {
	db := o.db
	out := make(map[string]*queryRecord)
	add := func(r *queryRecord) {
		m, ok := out[r.fp.ID]
		if !ok {
			m = &queryRecord{statsEntry: r.statsEntry}
			out[r.fp.ID] = m
		}
		m.counters.merge(&r.counters)
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	dropped := o.dropped
	for _, r := range o.closed {
		add(r)
	}
	for c := range db.conns {
		s := &c.stats
		s.mu.Lock()
		for _, r := range s.fps {
			if r.counters.calls > 0 {
				add(r)
			}
		}
		dropped.merge(s.lost)
		s.mu.Unlock()
	}
	return mergedStats{recs: out, since: o.since, dropped: dropped}
}

// retire keeps the statistics of a connection that closes. db.mu is held.
func (o *observability) retire(s *shard) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o.dropped.merge(s.lost)
	for id, r := range s.fps {
		if r.counters.calls == 0 {
			continue
		}
		if o.closed == nil {
			o.closed = make(map[string]*queryRecord)
		}
		m, ok := o.closed[id]
		if !ok {
			m = &queryRecord{statsEntry: r.statsEntry}
			o.closed[id] = m
		}
		m.counters.merge(&r.counters)
	}
}

func (o *observability) reset() {
	db := o.db
	o.table.mu.Lock()
	o.table.resetUsage()
	db.mu.Lock()
	o.closed = nil
	o.dropped = totals{}
	o.since = o.clock.Now()
	for c := range db.conns {
		s := &c.stats
		s.mu.Lock()
		for _, r := range s.fps {
			r.counters.reset()
		}
		s.lost = totals{}
		s.mu.Unlock()
	}
	db.mu.Unlock()
	o.table.mu.Unlock()

	o.db.group.resetStats()
	o.mu.Lock()
	o.samples = nil
	o.prior = nil // the history's periods before the start: forgotten with the rest
	m := o.monitor
	o.mu.Unlock()
	if m != nil {
		m.resetHistory()
	}
}

// totals are the database-wide counters a sample keeps.
type totals struct {
	calls, errors, waitedCalls uint64
	waited                     time.Duration
}

func totalsOf(recs map[string]*queryRecord) (t totals) {
	for _, r := range recs {
		t.add(&r.counters)
	}
	return t
}

// add adds the counters of a fingerprint to t.
func (t *totals) add(c *queryCounters) {
	t.calls += c.calls
	t.errors += c.errorCount()
	t.waited += c.waited
	t.waitedCalls += c.waitedCalls
}

// addCall counts one call in t.
func (t *totals) addCall(failed bool, waited time.Duration) {
	t.calls++
	if failed {
		t.errors++
	}
	if waited > 0 {
		t.waited += waited
		t.waitedCalls++
	}
}

// merge adds o to t.
func (t *totals) merge(o totals) {
	t.calls += o.calls
	t.errors += o.errors
	t.waited += o.waited
	t.waitedCalls += o.waitedCalls
}

// dbSample is the state of the database at one moment, for rates over a
// window.
type dbSample struct {
	at   time.Time
	tot  totals
	size int64 // Storage.SizeBytes; -1 when unknown
	pool sql.DBStats
}

// minSampleGap is the shortest time between two samples kept for rates, so
// that a program calling Stats in a loop keeps a bounded history.
const minSampleGap = time.Second

// addSample keeps s and forgets the samples the window no longer needs.
func (o *observability) addSample(s dbSample) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if n := len(o.samples); n > 0 && s.at.Sub(o.samples[n-1].at) < minSampleGap {
		return
	}
	o.samples = append(o.samples, s)
	window := o.cfg.thresholds.Window
	// Keep the newest sample at or before the window's start, and all after.
	keepFrom := 0
	for i, old := range o.samples {
		if !old.at.After(s.at.Add(-window)) {
			keepFrom = i
		}
	}
	o.samples = slices.Delete(o.samples, 0, keepFrom)
}

// baseline returns the earliest sample within the window before now, and
// the earliest one that knows the database's size, if any.
func (o *observability) baseline(now time.Time) (base, sized dbSample, ok, sizeOK bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	start := now.Add(-o.cfg.thresholds.Window)
	for _, s := range o.samples {
		if s.at.Before(start) || !s.at.Before(now) {
			continue
		}
		if !ok {
			base, ok = s, true
		}
		if !sizeOK && s.size >= 0 {
			sized, sizeOK = s, true
		}
	}
	return base, sized, ok, sizeOK
}

// snapshot computes the statistics of the database. sqlDB is the *sql.DB
// the caller holds.
func (o *observability) snapshot(ctx context.Context, sqlDB *sql.DB) Snapshot {
	merged := o.merged()
	recs, since := merged.recs, merged.since
	now := o.clock.Now()
	snap := Snapshot{Since: since, At: now}
	for _, r := range recs {
		snap.Queries = append(snap.Queries, o.queryStats(r))
	}
	slices.SortFunc(snap.Queries, func(a, b QueryStats) int {
		if c := cmp.Compare(b.Total, a.Total); c != 0 {
			return c
		}
		return cmp.Compare(a.Fingerprint.Text, b.Fingerprint.Text)
	})

	tot := merged.totals()
	fps, evictions := o.table.state()
	ds := DatabaseStats{
		Namespace:            o.dialect.namespace(),
		Calls:                tot.calls,
		Errors:               tot.errors,
		Waited:               tot.waited,
		Fingerprints:         fps,
		MaxFingerprints:      o.table.max,
		FingerprintEvictions: evictions,
		Pool:                 poolStats(sqlDB),
		Breaker:              o.db.breakerState(),
		WAL:                  o.db.walStats(),
		GroupCommit:          o.db.group.snapshot(),
	}
	st, err := o.dialect.storage(ctx, sqlDB)
	size := int64(-1)
	if err != nil {
		ds.StorageError = err.Error()
	} else {
		ds.Storage, size = st, st.SizeBytes
	}
	c := o.db.stmtCacheTotals()
	ds.StmtCache = StmtCacheStats{Hits: c.Hits, Misses: c.Misses, Evictions: c.Evictions, HitRatio: ratio(c.Hits, c.Hits+c.Misses)}

	// Rates over the window, from the earliest sample in it, else since
	// the statistics started.
	base, sized, ok, sizeOK := o.baseline(now)
	if !ok || base.at.Before(since) {
		base = dbSample{at: since, size: -1}
	}
	ds.Window = now.Sub(base.at)
	if secs := ds.Window.Seconds(); secs > 0 {
		ds.OpsPerSecond = float64(tot.calls-min(base.tot.calls, tot.calls)) / secs
	}
	if sizeOK && size >= 0 && now.After(sized.at) {
		ds.GrowthBytesPerHour = float64(size-sized.size) / now.Sub(sized.at).Hours()
	}
	ds.ErrorRate = ratio(tot.errors-min(base.tot.errors, tot.errors), tot.calls-min(base.tot.calls, tot.calls))
	snap.Database = ds
	o.addSample(dbSample{at: now, tot: tot, size: size, pool: ds.Pool.DBStats})

	snap.Integrity, _ = o.lastIntegrity()
	o.mu.Lock()
	m := o.monitor
	o.mu.Unlock()
	if m != nil {
		snap.Monitored = true
		snap.Alerts = m.active()
	}
	return snap
}

func (o *observability) queryStats(r *queryRecord) QueryStats {
	q := o.queryStatsNoPlan(r)
	if plan, ok := o.db.planner.plans.Peek(r.fp.ID); ok {
		p := *plan
		q.Plan = &p
	}
	return q
}

// queryStatsNoPlan is queryStats without the plan.
func (o *observability) queryStatsNoPlan(r *queryRecord) QueryStats {
	c := &r.counters
	q := QueryStats{
		Fingerprint:   r.fp,
		Calls:         c.calls,
		Errors:        maps.Clone(c.errors),
		Rows:          c.rows,
		Total:         c.total,
		Max:           c.max,
		P50:           min(c.hist.quantile(0.50), c.max),
		P95:           min(c.hist.quantile(0.95), c.max),
		P99:           min(c.hist.quantile(0.99), c.max),
		Waited:        c.waited,
		CacheHits:     c.hits,
		CacheMisses:   c.misses,
		CacheHitRatio: ratio(c.hits, c.hits+c.misses),
	}
	if c.calls > 0 {
		q.Mean = c.total / time.Duration(c.calls)
	}
	return q
}

func ratio(n, d uint64) float64 {
	if d == 0 {
		return 0
	}
	return float64(n) / float64(d)
}

// Workload implements [WorkloadReporter]: the statements run on the
// database with their calls and total time, so that [Advise] called without
// statements advises on the costliest ones. A statement's Query is its
// fingerprint's text. The registered driver, which belongs to no database,
// reports nothing.
func (d *Driver) Workload() []WorkloadQuery {
	if d.db == nil {
		return nil
	}
	var w []WorkloadQuery
	for _, r := range d.db.obs.merged().recs {
		switch r.fp.Text {
		case beginText, commitText, rollbackText:
			continue
		}
		w = append(w, WorkloadQuery{Query: r.fp.Text, Calls: int64(r.counters.calls), Total: r.counters.total})
	}
	return w
}
