package qlsqlite

import (
	"context"
	"database/sql"
	"errors"
	"reflect"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// instrumentationName names qlsqlite's tracer and meter.
const instrumentationName = "github.com/quantumleap/qlsqlite"

// Metric names: OpenTelemetry's database client conventions
// (https://opentelemetry.io/docs/specs/semconv/database/database-metrics/)
// where they have one, qlsqlite's own otherwise.
const (
	metricOperationDuration = "db.client.operation.duration"
	metricConnectionCount   = "db.client.connection.count"
	metricConnectionMax     = "db.client.connection.max"
	metricConnectionWait    = "db.client.connection.wait_time"
	metricCacheHits         = "qlsqlite.stmt_cache.hits"
	metricCacheMisses       = "qlsqlite.stmt_cache.misses"
	metricCacheEvictions    = "qlsqlite.stmt_cache.evictions"
	metricBreakerState      = "qlsqlite.breaker.state"
	metricWALSize           = "qlsqlite.wal.size"
	metricStatsFingerprints = "qlsqlite.stats.fingerprints"
	metricStatsEvictions    = "qlsqlite.stats.evictions"
)

// durationBuckets are the bucket boundaries the conventions advise for
// db.client.operation.duration, in seconds.
var durationBuckets = []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10}

// telemetry holds a database's OpenTelemetry instruments. It is free of
// engine specifics: the engine's name and error codes come from its
// [dialect].
type telemetry struct {
	dialect  dialect
	tracer   trace.Tracer            // nil when tracing is off
	text     bool                    // spans carry db.query.text (WithQueryText)
	atStart  bool                    // spans get their attributes when they start (WithSamplerAttributes)
	global   bool                    // tracer is the global provider's: see tracing
	live     atomic.Pointer[liveTP]  // tracing's last answer
	globalMP bool                    // meter is the global provider's: see metering
	liveMP   atomic.Pointer[liveMP]  // metering's last answer
	duration metric.Float64Histogram // nil when metrics are off
	meter    metric.Meter            // nil when metrics are off
	waitTime metric.Float64Histogram // nil when metrics are off
	base     []attribute.KeyValue    // db.system.name, db.namespace
	regs     []metric.Registration   // observable instruments' callbacks
}

func newTelemetry(cfg *observeConfig, d dialect) *telemetry {
	t := &telemetry{
		dialect: d,
		base: []attribute.KeyValue{
			semconv.DBSystemNameKey.String(d.system()),
			semconv.DBNamespaceKey.String(d.namespace()),
		},
	}
	if cfg.trace {
		tp := cfg.tracerProvider
		if tp == nil {
			tp = otel.GetTracerProvider()
			t.global = true
		}
		t.tracer = tp.Tracer(instrumentationName)
		t.text = cfg.queryText
		t.atStart = cfg.samplerAttrs
	}
	if cfg.metrics {
		mp := cfg.meterProvider
		if mp == nil {
			mp = otel.GetMeterProvider()
			t.globalMP = true
		}
		t.meter = mp.Meter(instrumentationName)
		var err error
		t.duration, err = t.meter.Float64Histogram(metricOperationDuration,
			metric.WithDescription("Duration of database client operations."),
			metric.WithUnit("s"),
			metric.WithExplicitBucketBoundaries(durationBuckets...))
		if err != nil {
			otel.Handle(err)
		}
		t.waitTime, err = t.meter.Float64Histogram(metricConnectionWait,
			metric.WithDescription("The time it took to obtain an open connection from the pool."),
			metric.WithUnit("s"))
		if err != nil {
			otel.Handle(err)
		}
	}
	return t
}

// queryMeta is what spans and metrics say about one query shape, computed
// once per SQL text and connection.
type queryMeta struct {
	// changes says RowsAffected means something: the statement is an
	// INSERT, UPDATE, DELETE or REPLACE (for other statements SQLite
	// reports the last such statement's count).
	changes  bool
	spanName string
	// spanOpts start a span: its kind, and its attributes with
	// WithSamplerAttributes. Without, spanAttrs are set on a recording
	// span right after its start; see observer.begin.
	spanOpts   []trace.SpanStartOption
	spanAttrs  []attribute.KeyValue
	attrs      []attribute.KeyValue  // the metric attributes
	metricOpts []metric.RecordOption // the attribute set, as Record takes it
}

// clientSpan starts a span of kind client with no attributes. The SDK only
// reads the options a span starts with, so all spans share them.
var clientSpan = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}

func (t *telemetry) meta(fp Fingerprint, s querySummary) queryMeta {
	attrs := append([]attribute.KeyValue(nil), t.base...)
	if s.operation != "" {
		attrs = append(attrs, semconv.DBOperationNameKey.String(s.operation))
	}
	if s.collection != "" {
		attrs = append(attrs, semconv.DBCollectionNameKey.String(s.collection))
	}
	name := s.text()
	if name != "" {
		attrs = append(attrs, semconv.DBQuerySummaryKey.String(name))
	} else {
		name = t.dialect.system()
	}
	m := queryMeta{spanName: name, attrs: attrs}
	switch s.operation {
	case "INSERT", "UPDATE", "DELETE", "REPLACE":
		m.changes = true
	}
	if t.tracer != nil {
		spanAttrs := attrs
		if t.text {
			spanAttrs = append(attrs[:len(attrs):len(attrs)], semconv.DBQueryTextKey.String(fp.Text))
		}
		if t.atStart {
			m.spanOpts = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(spanAttrs...)}
		} else {
			m.spanOpts, m.spanAttrs = clientSpan, spanAttrs
		}
	}
	if t.duration != nil {
		m.metricOpts = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(attrs...))}
	}
	return m
}

// errorType is error.type: the Go name of a context error, else the
// engine's status code, else "_OTHER" as the conventions ask.
func (t *telemetry) errorType(err error) (errType, status string) {
	status = t.dialect.statusCode(err)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "context.DeadlineExceeded", status
	case errors.Is(err, context.Canceled):
		return "context.Canceled", status
	case status != "":
		return status, status
	}
	return "_OTHER", status
}

// record records a call's duration in db.client.operation.duration.
func (t *telemetry) record(ctx context.Context, m *queryMeta, seconds float64, err error) {
	if !t.metering() {
		return
	}
	if err == nil {
		t.duration.Record(ctx, seconds, m.metricOpts...)
		return
	}
	errType, status := t.errorType(err)
	attrs := append(m.attrs[:len(m.attrs):len(m.attrs)], semconv.ErrorTypeKey.String(errType))
	if status != "" {
		attrs = append(attrs, semconv.DBResponseStatusCodeKey.String(status))
	}
	t.duration.Record(ctx, seconds, metric.WithAttributeSet(attribute.NewSet(attrs...)))
}

// liveTP is the global tracer provider last seen, and whether spans
// started through it are recorded by anything.
type liveTP struct {
	tp   trace.TracerProvider
	live bool
}

// tracing reports whether a span started now would reach a tracer
// provider. Until a program installs one with otel.SetTracerProvider, the
// global provider is OpenTelemetry's internal placeholder, whose spans go
// nowhere but still cost a context and a span value each: calls skip them.
// A provider installed later (or given with [WithTracerProvider]) is used
// from the next call on.
func (t *telemetry) tracing() bool {
	if !t.global {
		return true
	}
	tp := otel.GetTracerProvider()
	if l := t.live.Load(); l != nil && l.tp == tp {
		return l.live
	}
	live := !isPlaceholder(tp)
	t.live.Store(&liveTP{tp: tp, live: live})
	return live
}

// liveMP is the global meter provider last seen, and whether measurements
// recorded through it reach anything.
type liveMP struct {
	mp   metric.MeterProvider
	live bool
}

// metering is tracing for the metrics: until a program installs a meter
// provider, calls record no duration.
func (t *telemetry) metering() bool {
	if !t.globalMP {
		return true
	}
	mp := otel.GetMeterProvider()
	if l := t.liveMP.Load(); l != nil && l.mp == mp {
		return l.live
	}
	live := !isPlaceholder(mp)
	t.liveMP.Store(&liveMP{mp: mp, live: live})
	return live
}

// isPlaceholder reports whether a global provider is OpenTelemetry's own
// placeholder, which delegates to nothing until a provider is installed.
func isPlaceholder(provider any) bool {
	typ := reflect.TypeOf(provider)
	return typ != nil && typ.Kind() == reflect.Pointer && typ.Elem().PkgPath() == "go.opentelemetry.io/otel/internal/global"
}

// endSpan ends a call's span, with the error's attributes if it failed.
//
// The number of rows a query returned (db.response.returned_rows, not yet
// stable in the conventions) is left out: one more attribute at the end
// makes the SDK copy the span's attributes into a larger slice (the one
// SetAttributes made after the start holds them exactly); [Stats] has the
// rows per fingerprint.
func (t *telemetry) endSpan(span trace.Span, err error) {
	// IsRecording only for a failure: it takes the SDK span's lock, which
	// End takes anyway.
	if err != nil && span.IsRecording() {
		errType, status := t.errorType(err)
		span.SetAttributes(semconv.ErrorTypeKey.String(errType))
		if status != "" {
			span.SetAttributes(semconv.DBResponseStatusCodeKey.String(status))
		}
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// registerDatabase registers the observable instruments that need only the
// per-database state: statement cache counters, breaker state, and the
// fingerprints the statistics keep and evict.
func (t *telemetry) registerDatabase(db *database, table *statsTable) {
	if t.meter == nil {
		return
	}
	hits, err1 := t.meter.Int64ObservableCounter(metricCacheHits,
		metric.WithDescription("Statements taken from qlsqlite's per-connection statement cache."), metric.WithUnit("{statement}"))
	misses, err2 := t.meter.Int64ObservableCounter(metricCacheMisses,
		metric.WithDescription("Statements qlsqlite had to prepare because its statement cache did not hold them."), metric.WithUnit("{statement}"))
	evictions, err3 := t.meter.Int64ObservableCounter(metricCacheEvictions,
		metric.WithDescription("Statements evicted from qlsqlite's statement cache."), metric.WithUnit("{statement}"))
	breaker, err4 := t.meter.Int64ObservableGauge(metricBreakerState,
		metric.WithDescription("State of the circuit breaker: 0 closed, 1 half-open, 2 open."), metric.WithUnit("{state}"))
	fps, err5 := t.meter.Int64ObservableGauge(metricStatsFingerprints,
		metric.WithDescription("Fingerprints qlsqlite keeps statistics for (at most _stats_max)."), metric.WithUnit("{fingerprint}"))
	fpEvictions, err6 := t.meter.Int64ObservableCounter(metricStatsEvictions,
		metric.WithDescription("Fingerprints evicted from qlsqlite's statistics to make room for new ones (the least-used first)."), metric.WithUnit("{fingerprint}"))
	if err := errors.Join(err1, err2, err3, err4, err5, err6); err != nil {
		otel.Handle(err)
		return
	}
	set := metric.WithAttributeSet(attribute.NewSet(t.base...))
	reg, err := t.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		c := db.stmtCacheTotals()
		o.ObserveInt64(hits, int64(c.Hits), set)
		o.ObserveInt64(misses, int64(c.Misses), set)
		o.ObserveInt64(evictions, int64(c.Evictions), set)
		if v, ok := breakerValue(db.breakerState()); ok {
			o.ObserveInt64(breaker, v, set)
		}
		o.ObserveInt64(fps, int64(table.size()), set)
		o.ObserveInt64(fpEvictions, int64(table.evictions.Load()), set)
		return nil
	}, hits, misses, evictions, breaker, fps, fpEvictions)
	if err != nil {
		otel.Handle(err)
		return
	}
	t.regs = append(t.regs, reg)
}

func breakerValue(state string) (int64, bool) {
	switch state {
	case "closed":
		return 0, true
	case "half-open":
		return 1, true
	case "open":
		return 2, true
	}
	return 0, false
}

// registerPool registers the instruments that need the *sql.DB and the
// monitor: db.client.connection.count by state, db.client.connection.max
// (the pool name is the database's namespace), and qlsqlite.wal.size, the
// WAL's size at the monitor's last sample as walBytes reports it (ok is
// false before the first sample and for a database in memory).
func (t *telemetry) registerPool(sqlDB *sql.DB, walBytes func() (n int64, ok bool)) metric.Registration {
	if t.meter == nil {
		return nil
	}
	count, err1 := t.meter.Int64ObservableUpDownCounter(metricConnectionCount,
		metric.WithDescription("The number of connections that are currently in state described by the state attribute."), metric.WithUnit("{connection}"))
	maxConns, err2 := t.meter.Int64ObservableUpDownCounter(metricConnectionMax,
		metric.WithDescription("The maximum number of open connections allowed."), metric.WithUnit("{connection}"))
	wal, err3 := t.meter.Int64ObservableGauge(metricWALSize,
		metric.WithDescription("Size of the write-ahead log file at qlsqlite's monitor's last sample; a WAL that keeps growing means a reader holds an old snapshot open."),
		metric.WithUnit("By"))
	if err := errors.Join(err1, err2, err3); err != nil {
		otel.Handle(err)
		return nil
	}
	pool := semconv.DBClientConnectionPoolNameKey.String(t.dialect.namespace())
	idle := metric.WithAttributeSet(attribute.NewSet(pool, semconv.DBClientConnectionStateKey.String("idle")))
	used := metric.WithAttributeSet(attribute.NewSet(pool, semconv.DBClientConnectionStateKey.String("used")))
	poolOnly := metric.WithAttributeSet(attribute.NewSet(pool))
	database := metric.WithAttributeSet(attribute.NewSet(t.base...))
	reg, err := t.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := sqlDB.Stats()
		o.ObserveInt64(count, int64(s.Idle), idle)
		o.ObserveInt64(count, int64(s.InUse), used)
		if s.MaxOpenConnections > 0 {
			o.ObserveInt64(maxConns, int64(s.MaxOpenConnections), poolOnly)
		}
		if n, ok := walBytes(); ok {
			o.ObserveInt64(wal, n, database)
		}
		return nil
	}, count, maxConns, wal)
	if err != nil {
		otel.Handle(err)
		return nil
	}
	return reg
}

// recordPoolWait records the waits for a connection between two samples of
// the pool's statistics in db.client.connection.wait_time. database/sql
// reports only their number and total, so each wait is recorded at the
// interval's mean: the count and sum of the histogram are exact, its shape
// is that of the per-interval means.
func (t *telemetry) recordPoolWait(ctx context.Context, prev, cur sql.DBStats) {
	if t.waitTime == nil || cur.WaitCount <= prev.WaitCount {
		return
	}
	n := cur.WaitCount - prev.WaitCount
	mean := (cur.WaitDuration - prev.WaitDuration).Seconds() / float64(n)
	opt := metric.WithAttributeSet(attribute.NewSet(semconv.DBClientConnectionPoolNameKey.String(t.dialect.namespace())))
	for range n {
		t.waitTime.Record(ctx, mean, opt)
	}
}

// close unregisters the observable instruments.
func (t *telemetry) close() {
	for _, r := range t.regs {
		r.Unregister()
	}
	t.regs = nil
}
