package qlsqlite

import (
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Defaults of the observability settings.
const (
	// DefaultSlowQuery is the duration from which a call is logged as slow
	// ("_slow").
	DefaultSlowQuery = 100 * time.Millisecond
	// DefaultMonitorInterval is how often a monitor samples the database and
	// evaluates its alerts (see [Monitor]).
	DefaultMonitorInterval = 10 * time.Second
)

// observeConfig is the part of the configuration that says what is
// observed and where it goes.
type observeConfig struct {
	stats     bool          // per-fingerprint statistics ("_stats")
	statsMax  int           // fingerprints kept, at least 1 ("_stats_max")
	slow      time.Duration // slow-query log threshold; 0 disables ("_slow")
	trace     bool          // OpenTelemetry spans ("_trace")
	metrics   bool          // OpenTelemetry metrics ("_metrics")
	rootSpans bool          // spans for calls whose context carries no span
	queryText bool          // db.query.text on spans ("_query_text")

	samplerAttrs bool // spans' attributes given at their start, for the sampler (WithSamplerAttributes)

	tracerProvider trace.TracerProvider // nil: the global one
	meterProvider  metric.MeterProvider // nil: the global one
	logger         *slog.Logger         // nil: slog.Default() when logging

	alertFunc  func(Alert)
	thresholds AlertThresholds
	clock      Clock // nil: the system clock
	interval   time.Duration

	integrityEvery time.Duration // the monitor's integrity checks; 0: none ("_integrity_every")

	history          string        // the history file ("_history"); "": beside the database once Handler serves it
	historyOff       bool          // "_history=off"
	historyRetention time.Duration // "_history_retention"; 0: the default
	historyMaxBytes  int64         // "_history_max_size"; 0: the default
}

func defaultObserveConfig() observeConfig {
	return observeConfig{
		stats:        true,
		statsMax:     DefaultStatsMax,
		slow:         DefaultSlowQuery,
		trace:        true,
		metrics:      true,
		rootSpans:    true,
		samplerAttrs: true,
		thresholds:   DefaultAlertThresholds(),
		interval:     DefaultMonitorInterval,

		integrityEvery: DefaultIntegrityEvery,
	}
}

// WithStats turns per-fingerprint statistics on or off (DSN: "_stats";
// default on). Off, [Stats] reports no queries, and the alerts that need
// them (query p95, error rate, lock wait) never fire; spans, metrics and the
// slow-query log do not depend on it.
func WithStats(on bool) Option {
	return func(c *config) { c.obs.stats = on }
}

// WithStatsMax sets how many fingerprints a database keeps statistics for
// (DSN: "_stats_max"; default [DefaultStatsMax]), like
// pg_stat_statements.max. The bound is the database's, whatever the number
// of connections. When a new fingerprint does not fit, the least-used 5%
// are evicted: by calls, recent calls weighing more than old ones (each
// pass multiplies past usage by 0.99), the oldest first among equals; their
// calls stay in the database's totals, and
// [DatabaseStats].FingerprintEvictions counts them. Calls rather than total
// time, so that the one-off statements of start-up, migrations and admin
// work make room first, however long they took, and a long-lived process
// keeps its hot queries; slow calls are in the slow-query log regardless.
//
// A fingerprint costs about 3 KB, plus its counters on each further
// connection that runs it. n below 1 is taken as 1.
func WithStatsMax(n int) Option {
	return func(c *config) { c.obs.statsMax = max(n, 1) }
}

// WithSlowQueryLog sets the duration from which a call is logged as slow
// through [log/slog] (DSN: "_slow"; default [DefaultSlowQuery]). Zero
// disables the log. A query's duration runs until its rows are closed. The
// record carries the query's fingerprint, duration, number of arguments
// (never their values) and captured plan; see [WithLogger].
func WithSlowQueryLog(threshold time.Duration) Option {
	return func(c *config) { c.obs.slow = max(threshold, 0) }
}

// WithTracing turns OpenTelemetry spans on or off (DSN: "_trace"; default
// on). On, each statement, BEGIN, COMMIT and ROLLBACK gets a client span
// from the tracer provider (see [WithTracerProvider]); with no provider
// installed the global one is a no-op and spans cost next to nothing.
func WithTracing(on bool) Option {
	return func(c *config) { c.obs.trace = on }
}

// WithMetrics turns OpenTelemetry metrics on or off (DSN: "_metrics";
// default on); see [WithMeterProvider].
func WithMetrics(on bool) Option {
	return func(c *config) { c.obs.metrics = on }
}

// WithRootSpans says whether a call whose context carries no span starts a
// trace of its own (default true). Turn it off when only calls made on
// behalf of traced work (an HTTP request, a job) should be traced, and
// background chatter should not start traces.
func WithRootSpans(on bool) Option {
	return func(c *config) { c.obs.rootSpans = on }
}

// WithQueryText says whether spans carry db.query.text (DSN: "_query_text";
// default off). Its value is the statement's fingerprint (see
// [FingerprintOf]): literals and parameters are replaced by "?", so
// argument values never reach a span either way. Off, a span still names
// the statement by db.operation.name, db.collection.name and
// db.query.summary; on, it also carries the shape of the whole statement, at
// the cost of a longer span to copy and export.
func WithQueryText(on bool) Option {
	return func(c *config) { c.obs.queryText = on }
}

// WithSamplerAttributes says whether a span's attributes are given when it
// starts, where the tracer provider's sampler sees them (and a span
// processor's OnStart), as the [database conventions] ask so that samplers
// can decide by them (default true; DSN "_sampler_attributes"). Off, a span
// starts with its name (the query summary: operation and table) and its
// kind, and a span that is recorded gets its attributes right after the
// start: the spans exported are the same either way, but a span the
// sampler drops costs the SDK no copy of its attributes (an unsampled call
// 0.7 µs of CPU instead of 1.3, BenchmarkObserverTelemetry). Turn it off
// when no sampler reads db.system.name, db.namespace, db.operation.name,
// db.collection.name, db.query.summary or db.query.text.
//
// [database conventions]: https://opentelemetry.io/docs/specs/semconv/database/database-spans/
func WithSamplerAttributes(on bool) Option {
	return func(c *config) { c.obs.samplerAttrs = on }
}

// WithTracerProvider sets where spans go (default: the global provider,
// [go.opentelemetry.io/otel.GetTracerProvider], which forwards to whatever
// provider is installed later with otel.SetTracerProvider).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) { c.obs.tracerProvider = tp }
}

// WithMeterProvider sets where metrics go (default: the global provider,
// [go.opentelemetry.io/otel.GetMeterProvider], which forwards to whatever
// provider is installed later with otel.SetMeterProvider).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) { c.obs.meterProvider = mp }
}

// WithLogger sets the logger of the slow-query log and of alerts that have
// no [WithAlertFunc] (default: [slog.Default] at the time of logging).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.obs.logger = l }
}

// WithAlertFunc sets the function that receives alerts (see [Alert]): once
// when an alert fires and once when it clears. It is called from the
// monitor's goroutine, one alert at a time, and should return quickly.
// Without it, alerts are logged (see [WithLogger]): at level Warn when they
// fire and Info when they clear.
func WithAlertFunc(f func(Alert)) Option {
	return func(c *config) { c.obs.alertFunc = f }
}

// WithAlertThresholds sets the alert thresholds (default
// [DefaultAlertThresholds]). A zero field keeps its default; a negative one
// disables its alert.
func WithAlertThresholds(t AlertThresholds) Option {
	return func(c *config) { c.obs.thresholds = t.withDefaults() }
}

// WithClock sets the clock the monitor reads and ticks with, and the
// circuit breaker times its open state with (default: the system clock).
// Tests use it to move time without waiting. Durations of calls and
// statement deadlines always use the system's clock.
func WithClock(clk Clock) Option {
	return func(c *config) { c.obs.clock, c.now = clk, clk.Now }
}

// WithMonitorInterval sets how often the monitor samples the database and
// evaluates the alerts (default [DefaultMonitorInterval]).
func WithMonitorInterval(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.obs.interval = d
		}
	}
}

// WithIntegrityEvery sets how often the monitor checks the database's
// integrity with [CheckIntegrity] (DSN: "_integrity_every"; default
// [DefaultIntegrityEvery]); zero turns the schedule off. The first check
// runs within an hour of the monitor's start (or one interval, if
// shorter), then every interval. A scheduled check pauses after each table
// as long as the table took, so that it takes at most half of one
// connection's time and no single read transaction spans the database; its
// result is kept for [Health] and [Stats], and problems raise
// [AlertIntegrity]. Only a monitored database has the schedule ([Open]
// starts a monitor; after [database/sql.Open], call [Monitor]).
func WithIntegrityEvery(d time.Duration) Option {
	return func(c *config) { c.obs.integrityEvery = max(d, 0) }
}
