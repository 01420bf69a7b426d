package qlsqlite

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/quantumleap/qlsqlite/internal/history"
)

// The Prometheus endpoint of [Handler]: /metrics, in the Prometheus text
// format, from a registry of its own (the program's default registry is
// left alone):
//
//   - db_client_operation_duration_seconds, the histogram of OpenTelemetry's
//     database conventions by db.operation.name, db.collection.name and
//     db.query.summary, through OpenTelemetry's Prometheus exporter. It is
//     produced from qlsqlite's own statistics when scraped: nothing is
//     recorded on a statement's path for it, whatever the program's meter
//     provider.
//   - db_client_connection_count (by state) and db_client_connection_max,
//     the pool by the same conventions.
//   - go_sql_*, the pool as client_golang's DBStats collector reports any
//     *sql.DB.
//   - qlsqlite's own: the circuit breaker's state, the WAL's and the
//     database's size, the free pages, the fingerprints kept and evicted,
//     the statement cache, and the failed calls by class.
//   - the WAL keeper's checkpoints, pauses and commit waits, and whether
//     it is starved (see [WALStats]), when it keeps the WAL; group
//     commit's groups, statements and outcomes (see [GroupCommitStats]),
//     when it is on. Like [Stats], these count from the last [ResetStats]:
//     Prometheus takes a counter that went back as a reset.

// metricDatabaseSize and friends are the gauges only /metrics has.
const (
	metricDatabaseSize  = "qlsqlite.database.size"
	metricFreePages     = "qlsqlite.database.free_pages"
	metricQueryErrors   = "qlsqlite.query.errors"
	storageCacheTimeout = time.Second
)

// newMetricsHandler returns the handler of /metrics for db.
func newMetricsHandler(d *database, db *sql.DB) (http.Handler, error) {
	reg := prometheus.NewRegistry()
	prod := &statsProducer{o: d.obs, start: d.obs.clock.Now()}
	exp, err := otelprom.New(
		otelprom.WithRegisterer(reg),
		otelprom.WithProducer(prod),
		otelprom.WithoutTargetInfo(),
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes),
	)
	if err != nil {
		return nil, err
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	t := &telemetry{dialect: d.obs.dialect, meter: mp.Meter(instrumentationName), base: d.obs.tel.base}
	st := &storageCache{o: d.obs, db: db}
	t.registerDatabase(d, d.obs.table)
	t.registerPool(db, func() (int64, bool) {
		s, err := st.get()
		return s.WALBytes, err == nil && !s.InMemory
	})
	if err := t.registerStorage(st); err != nil {
		return nil, err
	}
	if err := t.registerKeepers(d); err != nil {
		return nil, err
	}
	if err := reg.Register(collectors.NewDBStatsCollector(db, d.obs.dialect.namespace())); err != nil {
		return nil, err
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}), nil
}

// storageCache reads the storage figures at most once a second, for the
// gauges of one scrape.
type storageCache struct {
	o  *observability
	db *sql.DB

	mu  sync.Mutex
	at  time.Time
	st  StorageStats
	err error
}

func (c *storageCache) get() (StorageStats, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) < storageCacheTimeout {
		return c.st, c.err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.st, c.err = c.o.dialect.storage(ctx, c.db)
	c.at = time.Now()
	return c.st, c.err
}

// registerStorage registers the database's size and free pages.
func (t *telemetry) registerStorage(st *storageCache) error {
	size, err1 := t.meter.Int64ObservableGauge(metricDatabaseSize,
		metric.WithDescription("Size of the database: its pages times the page size, free pages included."), metric.WithUnit("By"))
	free, err2 := t.meter.Int64ObservableGauge(metricFreePages,
		metric.WithDescription("Unused pages of the database, which VACUUM gives back to the file system."), metric.WithUnit("{page}"))
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	set := metric.WithAttributeSet(attribute.NewSet(t.base...))
	_, err := t.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s, err := st.get()
		if err != nil {
			return nil // no figure this scrape
		}
		o.ObserveInt64(size, s.SizeBytes, set)
		o.ObserveInt64(free, s.FreelistPages, set)
		return nil
	}, size, free)
	return err
}

// The counters of the WAL keeper and of group commit, on /metrics only.
const (
	metricWALCheckpoints   = "qlsqlite.wal.checkpoints"
	metricWALPauseTime     = "qlsqlite.wal.pause_time"
	metricWALCommitWaits   = "qlsqlite.wal.commit_waits"
	metricWALStarved       = "qlsqlite.wal.starved"
	metricGroupGroups      = "qlsqlite.group_commit.groups"
	metricGroupStatements  = "qlsqlite.group_commit.statements"
	metricGroupWithdrawn   = "qlsqlite.group_commit.withdrawn"
	metricGroupFailures    = "qlsqlite.group_commit.failures"
	metricGroupQueuedTotal = "qlsqlite.group_commit.queued_time"
)

// registerKeepers registers the counters of the WAL keeper, when the
// database has one, and of group commit, when it is on.
func (t *telemetry) registerKeepers(d *database) error {
	return errors.Join(t.registerWALKeeper(d), t.registerGroupCommit(d))
}

// instruments makes observable instruments, collecting their errors.
type instruments struct {
	t    *telemetry
	errs []error
}

func (in *instruments) counter(name, desc, unit string) metric.Int64ObservableCounter {
	c, err := in.t.meter.Int64ObservableCounter(name, metric.WithDescription(desc), metric.WithUnit(unit))
	in.errs = append(in.errs, err)
	return c
}

func (in *instruments) seconds(name, desc string) metric.Float64ObservableCounter {
	c, err := in.t.meter.Float64ObservableCounter(name, metric.WithDescription(desc), metric.WithUnit("s"))
	in.errs = append(in.errs, err)
	return c
}

// with is the database's attributes and one more, as an option made once
// at registration rather than on every scrape.
func (t *telemetry) with(k, v string) metric.ObserveOption {
	return metric.WithAttributeSet(attribute.NewSet(append(t.base[:len(t.base):len(t.base)], attribute.String(k, v))...))
}

// registerWALKeeper registers the WAL keeper's checkpoints, pauses, commit
// waits and starvation ([WALStats]).
func (t *telemetry) registerWALKeeper(d *database) error {
	in := &instruments{t: t}
	checkpoints := in.counter(metricWALCheckpoints, "Checkpoints of the WAL keeper, by kind: passive, truncate (the log reset), forced (a truncate that paused the writers first), busy (a truncate readers kept from completing).", "{checkpoint}")
	paused := in.seconds(metricWALPauseTime, "Time the WAL keeper held the writers at the writer gate for forced checkpoints.")
	waits := in.counter(metricWALCommitWaits, "Commits that left the WAL at three quarters of its limit and waited for the keeper to reset it.", "{commit}")
	starved, err := t.meter.Int64ObservableGauge(metricWALStarved, metric.WithDescription("1 when a read transaction that does not end keeps the WAL keeper from resetting a log near or over its limit."), metric.WithUnit("{state}"))
	if err := errors.Join(append(in.errs, err)...); err != nil {
		return err
	}
	set := metric.WithAttributeSet(attribute.NewSet(t.base...))
	passive, truncate, forced, busy := t.with("kind", "passive"), t.with("kind", "truncate"), t.with("kind", "forced"), t.with("kind", "busy")
	_, err = t.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		w := d.walStats()
		if w.Limit <= 0 {
			return nil // no keeper: SQLite's own auto-checkpoint runs
		}
		o.ObserveInt64(checkpoints, int64(w.Passive), passive)
		o.ObserveInt64(checkpoints, int64(w.Truncate), truncate)
		o.ObserveInt64(checkpoints, int64(w.Forced), forced)
		o.ObserveInt64(checkpoints, int64(w.Busy), busy)
		o.ObserveFloat64(paused, w.Paused.Seconds(), set)
		o.ObserveInt64(waits, int64(w.Waits), set)
		var s int64
		if w.Starved {
			s = 1
		}
		o.ObserveInt64(starved, s, set)
		return nil
	}, checkpoints, paused, waits, starved)
	return err
}

// registerGroupCommit registers group commit's groups, statements,
// withdrawals, failures and time queued ([GroupCommitStats]).
func (t *telemetry) registerGroupCommit(d *database) error {
	in := &instruments{t: t}
	groups := in.counter(metricGroupGroups, "Groups run by group commit: each one transaction, or one statement alone in autocommit.", "{group}")
	statements := in.counter(metricGroupStatements, "Statements group commit ran, by how: grouped (in a group's transaction) or alone (in autocommit, nobody else waiting).", "{statement}")
	withdrawn := in.counter(metricGroupWithdrawn, "Statements whose context ended while they waited in group commit: nothing of theirs was applied.", "{statement}")
	failures := in.counter(metricGroupFailures, "Failures in group commit, by kind: statement (one statement failed, its group went on), replay (a failure rolled the group back and the rest ran again), commit (a group's BEGIN or COMMIT failed, every statement got the error).", "{failure}")
	queued := in.seconds(metricGroupQueuedTotal, "Time statements waited in group commit before they started, in total.")
	if err := errors.Join(in.errs...); err != nil {
		return err
	}
	set := metric.WithAttributeSet(attribute.NewSet(t.base...))
	grouped, alone := t.with("ran", "grouped"), t.with("ran", "alone")
	statement, replay, commit := t.with("kind", "statement"), t.with("kind", "replay"), t.with("kind", "commit")
	_, err := t.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		g := d.group.snapshot()
		if !g.Enabled {
			return nil
		}
		o.ObserveInt64(groups, int64(g.Groups), set)
		o.ObserveInt64(statements, int64(g.Statements-g.Alone), grouped)
		o.ObserveInt64(statements, int64(g.Alone), alone)
		o.ObserveInt64(withdrawn, int64(g.Withdrawn), set)
		o.ObserveInt64(failures, int64(g.Failed), statement)
		o.ObserveInt64(failures, int64(g.Replays), replay)
		o.ObserveInt64(failures, int64(g.FailedCommits), commit)
		o.ObserveFloat64(queued, g.Queued.Seconds(), set)
		return nil
	}, groups, statements, withdrawn, failures, queued)
	return err
}

// statsProducer produces db.client.operation.duration and the failed
// calls from qlsqlite's statistics, when /metrics is scraped. Prometheus
// wants counters that never go back: each scrape adds what happened since
// the last one (the delta of each fingerprint) to series of its own, so
// that a fingerprint evicted from the statistics, or statistics reset,
// take nothing away.
type statsProducer struct {
	o     *observability
	start time.Time

	mu      sync.Mutex
	tracker deltaTracker
	series  map[attribute.Distinct]*durationSeries
	errors  map[attribute.Distinct]*errorSeries
}

// durationSeries is one histogram series: the calls of the fingerprints
// sharing an attribute set.
type durationSeries struct {
	attrs  attribute.Set
	counts []uint64 // len(durationBuckets)+1
	count  uint64
	sum    float64
}

type errorSeries struct {
	attrs attribute.Set
	n     int64
}

// Produce implements [sdkmetric.Producer].
func (p *statsProducer) Produce(context.Context) ([]metricdata.ScopeMetrics, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.series == nil {
		p.series = map[attribute.Distinct]*durationSeries{}
		p.errors = map[attribute.Distinct]*errorSeries{}
	}
	m := p.o.merged()
	p.tracker.advance(m, p.add)
	now := p.o.clock.Now()

	hist := metricdata.Histogram[float64]{Temporality: metricdata.CumulativeTemporality}
	for _, s := range p.series {
		hist.DataPoints = append(hist.DataPoints, metricdata.HistogramDataPoint[float64]{
			Attributes:   s.attrs,
			StartTime:    p.start,
			Time:         now,
			Count:        s.count,
			Bounds:       durationBuckets,
			BucketCounts: slices.Clone(s.counts),
			Sum:          s.sum,
		})
	}
	errs := metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: true}
	for _, s := range p.errors {
		errs.DataPoints = append(errs.DataPoints, metricdata.DataPoint[int64]{Attributes: s.attrs, StartTime: p.start, Time: now, Value: s.n})
	}
	return []metricdata.ScopeMetrics{{
		Scope: instrumentation.Scope{Name: instrumentationName},
		Metrics: []metricdata.Metrics{
			{Name: metricOperationDuration, Description: "Duration of database client operations.", Unit: "s", Data: hist},
			{Name: metricQueryErrors, Description: "Calls that failed, by qlsqlite's error class.", Unit: "{call}", Data: errs},
		},
	}}, nil
}

// add counts a fingerprint's delta into its series.
func (p *statsProducer) add(r *queryRecord, d history.QueryDelta) {
	set := attribute.NewSet(r.meta.attrs...)
	s, ok := p.series[set.Equivalent()]
	if !ok {
		s = &durationSeries{attrs: set, counts: make([]uint64, len(durationBuckets)+1)}
		p.series[set.Equivalent()] = s
	}
	for _, b := range d.Hist {
		v := time.Duration(bucketValue(int(b.Index)/histSub, int(b.Index)%histSub)).Seconds()
		s.counts[sort.SearchFloat64s(durationBuckets, v)] += b.Count
	}
	s.count += d.Calls
	s.sum += d.Total.Seconds()
	for class, n := range d.Errors {
		eset := attribute.NewSet(append(append([]attribute.KeyValue(nil), r.meta.attrs...), attribute.String("qlsqlite.error.class", class))...)
		e, ok := p.errors[eset.Equivalent()]
		if !ok {
			e = &errorSeries{attrs: eset}
			p.errors[eset.Equivalent()] = e
		}
		e.n += int64(n)
	}
}
