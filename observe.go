package qlsqlite

import (
	"context"
	"database/sql/driver"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ngrok/sqlmw"
	"go.opentelemetry.io/otel/trace"
)

// observability is a database's statistics, telemetry and monitoring
// state. Its per-query work happens in [observer], one per connection;
// what is kept here is read off the query path.
type observability struct {
	cfg     observeConfig
	db      *database
	dialect dialect
	tel     *telemetry
	clock   Clock

	table *statsTable // the fingerprints statistics are kept for

	// Guarded by db.mu, like the set of open connections whose shards
	// hold the rest of the statistics.
	closed  map[string]*queryRecord // statistics of closed connections, by fingerprint ID
	dropped totals                  // calls of evicted fingerprints, and closed connections' lost calls
	since   time.Time               // when the statistics started (open or reset)

	checking sync.Mutex // held by the integrity check running, if any

	histStart sync.Mutex                 // held while the history starts or stops
	histErr   atomic.Pointer[historyErr] // why the configured history could not start

	mu        sync.Mutex       // guards the fields below
	samples   []dbSample       // for rates over the window; see rates
	monitor   *monitor         // nil unless monitored
	integrity *IntegrityReport // the last integrity check; nil before the first
	judged    *IntegrityReport // the last that completed or found problems
	hist      *historyWriter   // nil unless the history is kept
	prior     []priorSample    // the history's periods before the statistics started, for the alert window
	restored  []Alert          // alerts firing when the history was last written
}

func newObservability(db *database, d dialect) *observability {
	cfg := db.cfg.obs
	o := &observability{
		cfg:     cfg,
		db:      db,
		dialect: d,
		clock:   cfg.clock,
		table:   newStatsTable(cfg.statsMax),
	}
	if o.clock == nil {
		o.clock = systemClock{}
	}
	o.tel = newTelemetry(&o.cfg, o.dialect)
	o.tel.registerDatabase(db, o.table)
	o.since = o.clock.Now()
	return o
}

// stopHistory writes the history's last period and stops its writer.
func (o *observability) stopHistory() {
	o.histStart.Lock()
	defer o.histStart.Unlock()
	if h := o.history(); h != nil {
		h.stop()
	}
}

// close stops the monitor and releases the dialect's connection and the
// metric callbacks.
func (o *observability) close() {
	o.mu.Lock()
	m := o.monitor
	o.mu.Unlock()
	if m != nil {
		m.stop()
	}
	o.tel.close()
	o.dialect.close()
}

// interceptor returns the interceptor of a new connection: next (the
// deadline, and whatever else applies per call) wrapped in an [observer],
// unless nothing is observed.
func (o *observability) interceptor(c *connCore, next sqlmw.Interceptor) sqlmw.Interceptor {
	cfg := &o.cfg
	if !cfg.stats && !cfg.trace && !cfg.metrics && cfg.slow == 0 {
		return next
	}
	return &observer{
		Interceptor: next,
		obs:         o,
		shard:       &c.stats,
		report:      &c.report,
		stats:       cfg.stats,
		traced:      o.tel.tracer != nil,
		metered:     o.tel.duration != nil,
		rootSpans:   cfg.rootSpans,
		slow:        cfg.slow,
	}
}

// breakerState reports the circuit breaker's state for statistics, health
// and the qlsqlite.breaker.state metric: "closed", "half-open" or "open",
// or "" while the database has no breaker.
func (db *database) breakerState() string {
	if db.breaker == nil {
		return ""
	}
	return string(db.breaker.status().State)
}

// errorClass names the class of a failed call's error, the key of
// [QueryStats.Errors]: the name of its [Class] ("connection", "query",
// "performance", "migration", "integrity"), or "other".
func (o *observability) errorClass(err error) string {
	if c := Classify(err); c != Unclassified {
		return c.String()
	}
	return "other"
}

// callReport is what the layers beneath the interceptor report about the
// calls on their connection. [database/sql] never uses a connection from
// two goroutines at once, so it needs no lock.
type callReport struct {
	// waited only grows: a call is charged the growth between its start and
	// its end (for a query, until its rows close, since SQLite runs a query
	// as its rows are read).
	waited time.Duration
	// cache is set when a call takes its statement from the statement
	// cache; the observer clears it when a call starts.
	cache cacheUse
	// start is when the observer started timing the call in progress, so
	// that the deadline beneath it reads no clock of its own; taken (and
	// cleared) by the first layer that wants it.
	start time.Time
}

// callStart returns when the call in progress started, if the observer
// timed it, and clears it.
func (r *callReport) callStart() (t time.Time) {
	t, r.start = r.start, time.Time{}
	return t
}

// cacheUse says whether a call's statement came from the statement cache.
type cacheUse uint8

const (
	cacheUnused cacheUse = iota // the call took no statement from the cache (Stmt calls, Exec without arguments)
	cacheHit
	cacheMiss
)

// addWait adds d to the time the connection's current call spent waiting:
// for the writer gate, or between busy retries. It is attributed to the
// call's fingerprint ([QueryStats.Waited]) and feeds the lock-wait alert.
// The writer gate ([sqliteConn.enterGate]) and the retries of the
// [interceptor] report here.
func (r *callReport) addWait(d time.Duration) { r.waited += d }

// tookStmt records whether the call's statement came from the cache.
func (r *callReport) tookStmt(hit bool) {
	if hit {
		r.cache = cacheHit
	} else {
		r.cache = cacheMiss
	}
}

// observer is the interceptor that observes each call of one connection:
// statistics into the connection's shard, a span, a duration metric, the
// slow-query log. It wraps the interceptor that applies the per-call
// policies (deadline, retry), so that what it observes includes them: a
// call's duration and span cover its waits and retries, and its error is the
// one the caller gets.
//
// It keeps the interceptor's rules (see [interceptor]): an Exec with an
// empty query passes through untouched (ncruces's Savepoint), ErrSkip is
// not an error, and a query is observed until its rows close, through the
// context sqlmw hands to RowsNext and RowsClose.
type observer struct {
	sqlmw.Interceptor // the next layer

	obs       *observability
	shard     *shard      // this connection's statistics
	report    *callReport // what the layers beneath report
	stats     bool
	traced    bool
	metered   bool
	rootSpans bool
	slow      time.Duration
	spare     *queryCtx // a finished query's context, for the next query
}

// call is one call in progress.
type call struct {
	rec       *queryRecord
	start     time.Time
	span      trace.Span    // nil when not traced
	waitStart time.Duration // the connection's waited when the call started
	cache     cacheUse      // where the call's statement came from
}

// begin starts observing a call of query. The returned context carries the
// call's span, if it has one.
func (o *observer) begin(ctx context.Context, query string) (context.Context, call) {
	c := call{rec: o.shard.record(o.obs, query), waitStart: o.report.waited}
	o.report.cache = cacheUnused
	if o.traced && (o.rootSpans || trace.SpanContextFromContext(ctx).IsValid()) && o.obs.tel.tracing() {
		m := &c.rec.meta
		ctx, c.span = o.obs.tel.tracer.Start(ctx, m.spanName, m.spanOpts...)
		// The attributes go on after the start: given to Start, the SDK
		// copies them (320 bytes) into its start configuration for every
		// span, those its sampler drops too, and then again into a
		// recorded span, as SetAttributes does. A span that is not
		// recording ignores them, so IsRecording is not asked first: on
		// a recorded span it takes the lock SetAttributes takes again.
		if m.spanAttrs != nil {
			c.span.SetAttributes(m.spanAttrs...)
		}
	}
	c.start = time.Now()
	o.report.start = c.start // the statement's deadline counts from here too
	return ctx, c
}

// end finishes observing a call. rows is the number of rows a query
// returned or a statement changed, or -1 if unknown.
func (o *observer) end(ctx context.Context, c *call, rows int64, nargs int, err error) {
	d := time.Since(c.start)
	o.report.start = time.Time{} // unused by the layers beneath: not for a later call
	if o.stats {
		class := ""
		if err != nil {
			class = o.obs.errorClass(err)
		}
		o.shard.count(c.rec, d, rows, class, o.report.waited-c.waitStart, c.cache)
	}
	if o.metered {
		o.obs.tel.record(ctx, &c.rec.meta, d.Seconds(), err)
	}
	if c.span != nil {
		o.obs.tel.endSpan(c.span, err)
	}
	if o.slow > 0 && d >= o.slow {
		o.obs.logSlow(ctx, c.rec, d, nargs, rows, err)
	}
}

// skipped ends a call that the driver answered with ErrSkip: database/sql
// runs it again another way, and that run is the one observed.
func (o *observer) skipped(c *call) {
	if c.span != nil {
		c.span.End()
	}
}

// ConnExecContext implements [sqlmw.Interceptor].
func (o *observer) ConnExecContext(ctx context.Context, conn driver.ExecerContext, query string, args []driver.NamedValue) (driver.Result, error) {
	if query == "" {
		return o.Interceptor.ConnExecContext(ctx, conn, query, args) // the Savepoint handshake: untouched
	}
	cctx, c := o.begin(ctx, query)
	res, err := o.Interceptor.ConnExecContext(cctx, conn, query, args)
	o.endExec(cctx, &c, res, len(args), err)
	return res, err
}

// StmtExecContext implements [sqlmw.Interceptor].
func (o *observer) StmtExecContext(ctx context.Context, stmt driver.StmtExecContext, query string, args []driver.NamedValue) (driver.Result, error) {
	cctx, c := o.begin(ctx, query)
	res, err := o.Interceptor.StmtExecContext(cctx, stmt, query, args)
	o.endExec(cctx, &c, res, len(args), err)
	return res, err
}

func (o *observer) endExec(ctx context.Context, c *call, res driver.Result, nargs int, err error) {
	if err == driver.ErrSkip {
		o.skipped(c)
		return
	}
	rows := int64(-1)
	if err == nil && res != nil && c.rec.meta.changes {
		if n, rerr := res.RowsAffected(); rerr == nil {
			rows = n
		}
	}
	c.cache = o.report.cache
	o.end(ctx, c, rows, nargs, err)
}

// queryCtx is the context a query's rows carry to RowsNext and RowsClose:
// the next layer's context (with its deadline) and the call in progress.
type queryCtx struct {
	context.Context
	call
	nargs int
	rows  int64
	err   error // the first error of the iteration
}

// ConnQueryContext implements [sqlmw.Interceptor].
func (o *observer) ConnQueryContext(ctx context.Context, conn driver.QueryerContext, query string, args []driver.NamedValue) (context.Context, driver.Rows, error) {
	cctx, c := o.begin(ctx, query)
	rctx, rows, err := o.Interceptor.ConnQueryContext(cctx, conn, query, args)
	return o.opened(cctx, rctx, c, rows, len(args), err)
}

// StmtQueryContext implements [sqlmw.Interceptor].
func (o *observer) StmtQueryContext(ctx context.Context, stmt driver.StmtQueryContext, query string, args []driver.NamedValue) (context.Context, driver.Rows, error) {
	cctx, c := o.begin(ctx, query)
	rctx, rows, err := o.Interceptor.StmtQueryContext(cctx, stmt, query, args)
	return o.opened(cctx, rctx, c, rows, len(args), err)
}

func (o *observer) opened(cctx, rctx context.Context, c call, rows driver.Rows, nargs int, err error) (context.Context, driver.Rows, error) {
	if err == driver.ErrSkip {
		o.skipped(&c)
		return rctx, rows, err
	}
	c.cache = o.report.cache
	if err != nil {
		o.end(cctx, &c, -1, nargs, err)
		return rctx, rows, err
	}
	qc := o.spare
	if qc != nil {
		o.spare = nil
		*qc = queryCtx{Context: rctx, call: c, nargs: nargs}
	} else {
		qc = &queryCtx{Context: rctx, call: c, nargs: nargs}
	}
	return qc, rows, nil
}

// RowsNext implements [sqlmw.Interceptor]: it counts rows, no span per row.
func (o *observer) RowsNext(ctx context.Context, rows driver.Rows, dest []driver.Value) error {
	qc, ok := ctx.(*queryCtx)
	if !ok {
		return o.Interceptor.RowsNext(ctx, rows, dest)
	}
	err := o.Interceptor.RowsNext(qc.Context, rows, dest)
	switch {
	case err == nil:
		qc.rows++
	case err != io.EOF && qc.err == nil:
		qc.err = err
	}
	return err
}

// RowsClose implements [sqlmw.Interceptor]: the query is over.
func (o *observer) RowsClose(ctx context.Context, rows driver.Rows) error {
	qc, ok := ctx.(*queryCtx)
	if !ok {
		return o.Interceptor.RowsClose(ctx, rows)
	}
	err := o.Interceptor.RowsClose(qc.Context, rows)
	callErr := qc.err
	if callErr == nil {
		callErr = err
	}
	o.end(qc, &qc.call, qc.rows, qc.nargs, callErr)
	*qc = queryCtx{}
	o.spare = qc
	return err
}

// Statement texts under which transactions are recorded.
const (
	beginText    = "BEGIN"
	commitText   = "COMMIT"
	rollbackText = "ROLLBACK"
)

// ConnBeginTx implements [sqlmw.Interceptor]. BEGIN is a call of its own;
// the context returned is the caller's, under which COMMIT or ROLLBACK are
// later observed.
func (o *observer) ConnBeginTx(ctx context.Context, conn driver.ConnBeginTx, opts driver.TxOptions) (context.Context, driver.Tx, error) {
	cctx, c := o.begin(ctx, beginText)
	_, tx, err := o.Interceptor.ConnBeginTx(cctx, conn, opts)
	o.end(cctx, &c, -1, 0, err)
	return ctx, tx, err
}

// TxCommit implements [sqlmw.Interceptor].
func (o *observer) TxCommit(ctx context.Context, tx driver.Tx) error {
	cctx, c := o.begin(ctx, commitText)
	err := o.Interceptor.TxCommit(cctx, tx)
	o.end(cctx, &c, -1, 0, err)
	return err
}

// TxRollback implements [sqlmw.Interceptor].
func (o *observer) TxRollback(ctx context.Context, tx driver.Tx) error {
	cctx, c := o.begin(ctx, rollbackText)
	err := o.Interceptor.TxRollback(cctx, tx)
	o.end(cctx, &c, -1, 0, err)
	return err
}

// logSlow writes the slow-query log record of a call: its fingerprint,
// duration, number of arguments (never their values), rows, error, and the
// plan captured for it, if any, on one line; within the log's rate limit
// (slowlog.go), with the count of the records left out before it.
func (o *observability) logSlow(ctx context.Context, rec *queryRecord, d time.Duration, nargs int, rows int64, err error) {
	logger := o.slowLogger()
	if !logger.Enabled(ctx, slog.LevelWarn) {
		return
	}
	ok, suppressed := o.db.slowLog.admit(o.db.cfg.slowLimit, o.clock.Now())
	if !ok {
		return
	}
	attrs := []slog.Attr{
		slog.String("fingerprint", rec.fp.Text),
		slog.String("fingerprint_id", rec.fp.ID),
		slog.Duration("duration", d),
		slog.Int("args", nargs),
	}
	if rows >= 0 {
		attrs = append(attrs, slog.Int64("rows", rows))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	if plan, ok := o.db.planner.plans.Peek(rec.fp.ID); ok {
		attrs = append(attrs, slog.String("plan", plan.oneLine()))
	}
	if suppressed > 0 {
		attrs = append(attrs, slog.Int64("suppressed", suppressed))
	}
	logger.LogAttrs(ctx, slog.LevelWarn, "qlsqlite: slow query", attrs...)
}
