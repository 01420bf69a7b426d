package qlsqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"
)

// A Clock tells time to a monitor: when samples are taken and how old they
// are. [WithClock] replaces the system clock, so that tests can move time
// without waiting.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// Ticker returns a channel that receives the time every d, and a
	// function that stops it.
	Ticker(d time.Duration) (ticks <-chan time.Time, stop func())
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) Ticker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}

// AlertThresholds are the limits past which a monitor raises an alert,
// evaluated over a sliding window. In [WithAlertThresholds], a zero field
// keeps its default and a negative one disables its alert.
type AlertThresholds struct {
	// QueryP95 is the 95th percentile of a fingerprint's call durations
	// over the window (default 100ms), for fingerprints with at least
	// MinCalls calls in the window.
	QueryP95 time.Duration
	// PoolUsage is the connection pool's mean utilization over the window,
	// in-use connections / SetMaxOpenConns (default 0.8). It never fires
	// for a pool without a limit.
	PoolUsage float64
	// DatabaseSize is the database's size in bytes (default 5000 MB,
	// 5000×10^6 bytes).
	DatabaseSize int64
	// ErrorRate is failed calls / calls over the window (default 0.01),
	// when the window has at least MinCalls calls.
	ErrorRate float64
	// LockWait is the mean time a call that had to wait (for the writer
	// gate, between busy retries) waited, over the window (default 1s).
	LockWait time.Duration
	// Window is the length of the sliding window (default 5 minutes).
	Window time.Duration
	// MinCalls is the number of calls below which the query-p95 and
	// error-rate alerts do not judge (default 10).
	MinCalls int
}

// DefaultAlertThresholds returns the default thresholds: query p95 100ms,
// pool usage 80%, database size 5000 MB, error rate 1%, lock wait 1000ms,
// over a 5-minute window, judging rates from 10 calls on.
func DefaultAlertThresholds() AlertThresholds {
	return AlertThresholds{
		QueryP95:     100 * time.Millisecond,
		PoolUsage:    0.80,
		DatabaseSize: 5000 * 1000 * 1000,
		ErrorRate:    0.01,
		LockWait:     1000 * time.Millisecond,
		Window:       5 * time.Minute,
		MinCalls:     10,
	}
}

func (t AlertThresholds) withDefaults() AlertThresholds {
	d := DefaultAlertThresholds()
	if t.QueryP95 == 0 {
		t.QueryP95 = d.QueryP95
	}
	if t.PoolUsage == 0 {
		t.PoolUsage = d.PoolUsage
	}
	if t.DatabaseSize == 0 {
		t.DatabaseSize = d.DatabaseSize
	}
	if t.ErrorRate == 0 {
		t.ErrorRate = d.ErrorRate
	}
	if t.LockWait == 0 {
		t.LockWait = d.LockWait
	}
	if t.Window <= 0 {
		t.Window = d.Window
	}
	if t.MinCalls <= 0 {
		t.MinCalls = d.MinCalls
	}
	return t
}

// Names of the alerts.
const (
	AlertQueryP95     = "query_p95"
	AlertPoolUsage    = "pool_usage"
	AlertDatabaseSize = "database_size"
	AlertErrorRate    = "error_rate"
	AlertLockWait     = "lock_wait"
	// AlertIntegrity fires when the last integrity check that completed
	// (see [CheckIntegrity], [WithIntegrityEvery]) found problems, and
	// clears when a later one finds none. It has no threshold to set.
	AlertIntegrity = "integrity"
)

// alertClearRatio is how far below its threshold a value must fall before
// a firing alert clears, so that a value hovering at the threshold does not
// fire and clear on every evaluation.
const alertClearRatio = 0.9

// An Alert is a threshold crossed (Firing) or no longer crossed. Each alert
// is delivered once when it fires and once when it clears: while it keeps
// firing nothing more is sent. It clears when its value falls below 90% of
// the threshold, or when the window no longer holds enough calls to judge.
type Alert struct {
	// Name is one of AlertQueryP95, AlertPoolUsage, AlertDatabaseSize,
	// AlertErrorRate, AlertLockWait, AlertIntegrity.
	Name string
	// Firing is true when the alert fires, false when it clears.
	Firing bool
	// Value and Threshold are in the alert's unit: seconds for
	// query_p95 and lock_wait, a ratio for pool_usage and error_rate,
	// bytes for database_size, problems found for integrity (threshold
	// 1). Value is the one that fired or cleared the alert.
	Value, Threshold float64
	// Message says it for a person.
	Message string
	// Fingerprints are the queries over the threshold, slowest first
	// (query_p95 only).
	Fingerprints []Fingerprint
	// At is when the monitor saw it, by its clock.
	At time.Time
}

// monitor samples a database on a ticker and raises alerts. One goroutine
// per monitored database does the work, off the query path; a scheduled
// integrity check runs in one of its own.
type monitor struct {
	obs    *observability
	sqlDB  *sql.DB
	cfg    observeConfig // thresholds, alert func, logger, clock, interval
	clock  Clock
	reg    metric.Registration
	done   chan struct{}
	exited chan struct{}
	once   sync.Once

	walBytes atomic.Int64 // the WAL's size at the last sample that read it; -1 before, or in memory

	integrity integritySchedule
	ctx       context.Context // cancelled by stop: ends a scheduled check
	cancel    context.CancelFunc
	checks    sync.WaitGroup // the scheduled check running

	mu       sync.Mutex
	history  []monSample      // oldest first, covering the window
	firing   map[string]Alert // by name
	lastPool sql.DBStats
	readings map[string]reading // the last evaluation's, by alert name: the monitoring page shows them
}

// monSample is the state of the database at one tick.
type monSample struct {
	at    time.Time
	tot   totals
	hists map[string]*histogram // by fingerprint ID; nil in most samples of the history, see sample
	fps   map[string]Fingerprint
	util  float64 // pool utilization; -1 when the pool has no limit
	size  int64   // -1 when unknown
}

// Monitor starts evaluating the alerts of db, a database opened with
// [sql.Open]; [Open] starts a monitor by itself. A goroutine samples the
// database every [WithMonitorInterval] (default [DefaultMonitorInterval]),
// off the query path, and delivers alerts to [WithAlertFunc] (default: the
// log). It stops when stop is called or db is closed.
//
// opts may hold the monitor's options: [WithAlertFunc],
// [WithAlertThresholds], [WithMonitorInterval], [WithIntegrityEvery],
// [WithClock] and [WithLogger]. What is fixed when a database opens (deadline, statement
// cache, statistics, tracing, metrics) cannot change here: such an option
// is an error. Monitoring a database twice is an error, too.
//
// A monitor also reports the connection pool in metrics
// (db.client.connection.count, .max, .wait_time): only a monitored
// database has them, because only then is its [*sql.DB] known. And it runs
// the scheduled integrity checks ([WithIntegrityEvery]).
func Monitor(db *sql.DB, opts ...Option) (stop func(), err error) {
	d, err := stateOf(db)
	if err != nil {
		return nil, err
	}
	cfg := d.cfg
	for _, opt := range opts {
		opt(&cfg)
	}
	if err := fixedAtOpen(&d.cfg, &cfg); err != nil {
		return nil, err
	}
	m, err := d.obs.startMonitor(db, cfg.obs)
	if err != nil {
		return nil, err
	}
	return m.stop, nil
}

// fixedAtOpen returns an error naming the first setting that options given
// after the database was opened tried to change.
func fixedAtOpen(was, now *config) error {
	changed := ""
	switch {
	case was.timeout != now.timeout:
		changed = "WithTimeout"
	case was.stmtCache != now.stmtCache:
		changed = "WithStmtCache"
	case was.defaults != now.defaults:
		changed = "WithDefaults"
	case was.obs.stats != now.obs.stats:
		changed = "WithStats"
	case was.obs.statsMax != now.obs.statsMax:
		changed = "WithStatsMax"
	case was.obs.slow != now.obs.slow:
		changed = "WithSlowQueryLog"
	case was.obs.trace != now.obs.trace:
		changed = "WithTracing"
	case was.obs.metrics != now.obs.metrics:
		changed = "WithMetrics"
	case was.obs.rootSpans != now.obs.rootSpans:
		changed = "WithRootSpans"
	case was.obs.queryText != now.obs.queryText:
		changed = "WithQueryText"
	case !sameValue(was.obs.tracerProvider, now.obs.tracerProvider):
		changed = "WithTracerProvider"
	case !sameValue(was.obs.meterProvider, now.obs.meterProvider):
		changed = "WithMeterProvider"
	}
	if changed != "" {
		return fmt.Errorf("qlsqlite: %s cannot change after the database is opened: give it to qlsqlite.Open, or as a DSN parameter", changed)
	}
	return nil
}

// sameValue compares two interface values without panicking on a dynamic
// type that is not comparable (such values count as the same).
func sameValue(a, b any) bool {
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	if ta != tb {
		return false
	}
	if ta == nil || !ta.Comparable() {
		return true
	}
	return a == b
}

// startMonitor starts the monitor of the database.
func (o *observability) startMonitor(sqlDB *sql.DB, cfg observeConfig) (*monitor, error) {
	clock := cfg.clock
	if clock == nil {
		clock = systemClock{}
	}
	m := &monitor{
		obs:       o,
		sqlDB:     sqlDB,
		cfg:       cfg,
		clock:     clock,
		done:      make(chan struct{}),
		exited:    make(chan struct{}),
		firing:    make(map[string]Alert),
		integrity: newIntegritySchedule(cfg.integrityEvery, clock.Now()),
	}
	o.mu.Lock()
	if o.monitor != nil {
		o.mu.Unlock()
		return nil, errors.New("qlsqlite: the database is already monitored (qlsqlite.Open starts a monitor: pass the alert options to Open)")
	}
	o.monitor = m
	restored := o.restored
	o.mu.Unlock()
	m.restoreFiring(restored)
	m.ctx, m.cancel = context.WithCancel(context.Background())

	m.walBytes.Store(-1)
	m.reg = o.tel.registerPool(sqlDB, m.wal)
	m.lastPool = sqlDB.Stats()
	m.sample(clock.Now(), false) // the baseline of the first window; no connection yet: Open does not connect
	ticks, stopTicker := clock.Ticker(cfg.interval)
	go m.run(ticks, stopTicker)
	return m, nil
}

// wal reports the WAL's size at the last sample that read the storage, for
// the qlsqlite.wal.size metric.
func (m *monitor) wal() (int64, bool) {
	n := m.walBytes.Load()
	return n, n >= 0
}

func (m *monitor) run(ticks <-chan time.Time, stopTicker func()) {
	defer close(m.exited)
	defer stopTicker()
	for {
		select {
		case <-m.done:
			return
		case now := <-ticks:
			m.tick(now)
		}
	}
}

// stop stops the monitor and waits for its goroutine to end.
func (m *monitor) stop() {
	m.once.Do(func() {
		close(m.done)
		<-m.exited
		m.cancel()
		m.checks.Wait()
		if m.reg != nil {
			m.reg.Unregister()
		}
		m.obs.mu.Lock()
		if m.obs.monitor == m {
			m.obs.monitor = nil
		}
		m.obs.mu.Unlock()
	})
}

// tick samples the database, evaluates the alerts and delivers the
// changes, and starts the scheduled integrity check when it is due.
func (m *monitor) tick(now time.Time) {
	m.scheduleIntegrity(now)
	cur := m.sample(now, true)
	h := m.obs.history()
	for _, a := range m.evaluate(now, cur) {
		m.deliver(a)
		if h != nil {
			h.event(alertEvent(a))
		}
	}
}

// sample takes a sample of the database and keeps it in the history;
// storage says whether to read the database's size, which connects.
func (m *monitor) sample(now time.Time, storage bool) monSample {
	merged := m.obs.merged()
	recs := merged.recs
	s := monSample{
		at:    now,
		tot:   merged.totals(),
		hists: make(map[string]*histogram, len(recs)),
		fps:   make(map[string]Fingerprint, len(recs)),
		util:  -1,
		size:  -1,
	}
	for id, r := range recs {
		s.hists[id] = &r.counters.hist // recs are fresh copies: no need to clone
		s.fps[id] = r.fp
	}
	pool := poolStats(m.sqlDB)
	if pool.MaxOpenConnections > 0 {
		s.util = pool.Utilization
	}
	if storage {
		ctx, cancel := context.WithTimeout(context.Background(), max(m.cfg.interval, time.Second))
		if st, err := m.obs.dialect.storage(ctx, m.sqlDB); err == nil {
			s.size = st.SizeBytes
			if !st.InMemory {
				m.walBytes.Store(st.WALBytes)
			}
		}
		cancel()
	}
	// A tick and ResetStats both sample: the previous pool reading is
	// swapped under the lock, so each wait is recorded once.
	m.mu.Lock()
	last := m.lastPool
	m.lastPool = pool.DBStats
	m.mu.Unlock()
	m.obs.tel.recordPoolWait(context.Background(), last, pool.DBStats)
	m.obs.addSample(dbSample{at: now, tot: s.tot, size: s.size, pool: pool.DBStats})

	m.mu.Lock()
	defer m.mu.Unlock()
	// The histograms of every fingerprint are the bulk of a sample: the
	// history keeps them about every sixth of the window only, so a query's
	// p95 is judged over the last 5/6 to 6/6 of the window.
	kept := s
	for i := len(m.history) - 1; i >= 0; i-- {
		if m.history[i].hists != nil {
			if now.Sub(m.history[i].at) < m.cfg.thresholds.Window/6 {
				kept.hists, kept.fps = nil, nil
			}
			break
		}
	}
	m.history = append(m.history, kept)
	keepFrom := 0
	for i, old := range m.history {
		if !old.at.After(now.Add(-m.cfg.thresholds.Window)) {
			keepFrom = i
		}
	}
	m.history = slices.Delete(m.history, 0, keepFrom)
	return s
}

// resetHistory forgets the samples after the statistics were reset; the
// next tick starts a new window.
func (m *monitor) resetHistory() {
	m.mu.Lock()
	m.history = nil
	m.mu.Unlock()
	m.sample(m.clock.Now(), false)
}

// reading is the value of one alert's measure now; ok is false when there
// is not enough data to judge.
type reading struct {
	value     float64
	ok        bool
	threshold float64
	message   string
	fps       []Fingerprint
}

// evaluate computes each alert's reading over the window ending at cur and
// returns the alerts that fire or clear.
func (m *monitor) evaluate(now time.Time, cur monSample) []Alert {
	th := m.cfg.thresholds
	w := m.window(now, cur)
	readings := map[string]reading{AlertIntegrity: m.integrityReading()}
	if th.QueryP95 > 0 {
		readings[AlertQueryP95] = queryP95Reading(th, cur, w.histBase, w.prior)
	}
	if th.PoolUsage > 0 {
		readings[AlertPoolUsage] = poolUsageReading(th, w.utils)
	}
	if th.DatabaseSize > 0 {
		readings[AlertDatabaseSize] = databaseSizeReading(th, cur)
	}
	if th.ErrorRate > 0 {
		readings[AlertErrorRate] = errorRateReading(th, w.delta)
	}
	if th.LockWait > 0 {
		readings[AlertLockWait] = lockWaitReading(th, w.delta)
	}
	m.mu.Lock()
	m.readings = readings
	m.mu.Unlock()
	return m.transitions(now, readings)
}

// lastReadings returns the readings of the last evaluation, nil before
// the first.
func (m *monitor) lastReadings() map[string]reading {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.readings
}

// window is what the history says about the alert window ending at cur.
type window struct {
	delta    totals     // the counters' growth over the window
	histBase *monSample // the earliest sample in the window with histograms
	utils    []float64  // the pool's utilization at each sample that knows it
	// prior adds up the periods of the statistics history in the window
	// from before the statistics started (a restart), by fingerprint.
	prior map[string]priorQuery
}

// priorQuery is what a fingerprint did in the window before a restart.
type priorQuery struct {
	fp   Fingerprint
	hist *histogram
}

func (m *monitor) window(now time.Time, cur monSample) window {
	m.mu.Lock()
	defer m.mu.Unlock()
	var w window
	var base *monSample
	start := now.Add(-m.cfg.thresholds.Window)
	for i := range m.history {
		s := &m.history[i]
		if s.at.Before(start) || !s.at.Before(now) {
			continue
		}
		if base == nil {
			base = s
		}
		if w.histBase == nil && s.hists != nil {
			w.histBase = s
		}
		if s.util >= 0 {
			w.utils = append(w.utils, s.util)
		}
	}
	if cur.util >= 0 {
		w.utils = append(w.utils, cur.util)
	}
	if base != nil {
		w.delta = totals{
			calls:       cur.tot.calls - min(base.tot.calls, cur.tot.calls),
			errors:      cur.tot.errors - min(base.tot.errors, cur.tot.errors),
			waitedCalls: cur.tot.waitedCalls - min(base.tot.waitedCalls, cur.tot.waitedCalls),
			waited:      cur.tot.waited - min(base.tot.waited, cur.tot.waited),
		}
	}
	for _, p := range m.obs.priorIn(start, now) {
		w.delta.merge(p.tot)
		if p.util >= 0 {
			w.utils = append(w.utils, p.util)
		}
		for id, h := range p.hists {
			if w.prior == nil {
				w.prior = map[string]priorQuery{}
			}
			q, ok := w.prior[id]
			if !ok {
				q = priorQuery{fp: p.fps[id], hist: &histogram{}}
			}
			q.hist.merge(h)
			w.prior[id] = q
		}
	}
	return w
}

// queryP95Reading is the largest p95 over the window of the fingerprints
// with enough calls in it, naming those over the threshold.
func queryP95Reading(th AlertThresholds, cur monSample, histBase *monSample, prior map[string]priorQuery) reading {
	r := reading{threshold: th.QueryP95.Seconds()}
	type slow struct {
		fp  Fingerprint
		p95 time.Duration
	}
	var over []slow
	fps := cur.fps
	ids := maps.Keys(cur.hists)
	if len(prior) > 0 {
		fps = maps.Clone(cur.fps)
		for id, q := range prior {
			if _, ok := fps[id]; !ok {
				fps[id] = q.fp
			}
		}
		ids = maps.Keys(fps)
	}
	for id := range ids {
		w := &histogram{}
		if h, ok := cur.hists[id]; ok {
			w = h.clone()
			if histBase != nil {
				if bh, ok := histBase.hists[id]; ok {
					w.sub(bh)
				}
			}
		}
		if q, ok := prior[id]; ok {
			w.merge(q.hist)
		}
		if w.count < uint64(th.MinCalls) {
			continue
		}
		p95 := w.quantile(0.95)
		r.ok = true
		r.value = max(r.value, p95.Seconds())
		if p95 >= th.QueryP95 {
			over = append(over, slow{fps[id], p95})
		}
	}
	slices.SortFunc(over, func(a, b slow) int { return cmp.Compare(b.p95, a.p95) })
	var parts []string
	for _, s := range over {
		r.fps = append(r.fps, s.fp)
		if len(parts) < 3 {
			parts = append(parts, fmt.Sprintf("%s (p95 %v)", s.fp.Text, s.p95.Round(time.Microsecond)))
		}
	}
	r.message = fmt.Sprintf("query p95 %v over the last %v (threshold %v)", time.Duration(r.value*float64(time.Second)).Round(time.Microsecond), th.Window, th.QueryP95)
	if len(parts) > 0 {
		r.message += ": " + strings.Join(parts, "; ")
	}
	return r
}

func poolUsageReading(th AlertThresholds, utils []float64) reading {
	r := reading{threshold: th.PoolUsage}
	if len(utils) > 0 {
		var sum float64
		for _, u := range utils {
			sum += u
		}
		r.value, r.ok = sum/float64(len(utils)), true
	}
	r.message = fmt.Sprintf("connection pool %.0f%% in use on average over the last %v (threshold %.0f%%)", 100*r.value, th.Window, 100*th.PoolUsage)
	return r
}

func databaseSizeReading(th AlertThresholds, cur monSample) reading {
	r := reading{threshold: float64(th.DatabaseSize)}
	if cur.size >= 0 {
		r.value, r.ok = float64(cur.size), true
	}
	r.message = fmt.Sprintf("database size %.1f MB (threshold %.1f MB)", r.value/1e6, r.threshold/1e6)
	return r
}

func errorRateReading(th AlertThresholds, delta totals) reading {
	r := reading{threshold: th.ErrorRate}
	if delta.calls >= uint64(th.MinCalls) {
		r.value, r.ok = ratio(delta.errors, delta.calls), true
	}
	r.message = fmt.Sprintf("%.2f%% of %d calls failed over the last %v (threshold %.2f%%)", 100*r.value, delta.calls, th.Window, 100*th.ErrorRate)
	return r
}

func lockWaitReading(th AlertThresholds, delta totals) reading {
	r := reading{threshold: th.LockWait.Seconds()}
	if delta.waitedCalls > 0 {
		r.value, r.ok = (delta.waited / time.Duration(delta.waitedCalls)).Seconds(), true
	}
	r.message = fmt.Sprintf("calls that waited for locks waited %v on average over the last %v (threshold %v)",
		time.Duration(r.value*float64(time.Second)).Round(time.Millisecond), th.Window, th.LockWait)
	return r
}

// transitions updates the firing alerts from the readings and returns the
// alerts that fired or cleared.
func (m *monitor) transitions(now time.Time, readings map[string]reading) []Alert {
	m.mu.Lock()
	defer m.mu.Unlock()
	var changes []Alert
	for _, name := range slices.Sorted(maps.Keys(readings)) {
		r := readings[name]
		_, firing := m.firing[name]
		switch {
		case !firing && r.ok && r.value >= r.threshold:
			a := Alert{Name: name, Firing: true, Value: r.value, Threshold: r.threshold, Message: r.message, Fingerprints: r.fps, At: now}
			m.firing[name] = a
			changes = append(changes, a)
		case firing && (!r.ok || r.value < alertClearRatio*r.threshold):
			msg := r.message
			if !r.ok {
				msg = "not enough data in the last " + m.cfg.thresholds.Window.String() + " to judge: " + msg
			}
			delete(m.firing, name)
			changes = append(changes, Alert{Name: name, Firing: false, Value: r.value, Threshold: r.threshold, Message: msg, At: now})
		}
	}
	return changes
}

// active returns the alerts firing now, by name.
func (m *monitor) active() []Alert {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.SortedFunc(maps.Values(m.firing), func(a, b Alert) int { return strings.Compare(a.Name, b.Name) })
}

// deliver hands an alert to the alert function, or logs it.
func (m *monitor) deliver(a Alert) {
	if m.cfg.alertFunc != nil {
		m.cfg.alertFunc(a)
		return
	}
	logger := m.cfg.logger
	if logger == nil {
		logger = slog.Default()
	}
	level, msg := slog.LevelWarn, "qlsqlite: alert firing"
	if !a.Firing {
		level, msg = slog.LevelInfo, "qlsqlite: alert cleared"
	}
	logger.LogAttrs(context.Background(), level, msg,
		slog.String("alert", a.Name), slog.Float64("value", a.Value), slog.Float64("threshold", a.Threshold),
		slog.String("namespace", m.obs.dialect.namespace()), slog.String("detail", a.Message))
}
