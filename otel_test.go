package qlsqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
	ncruces "github.com/ncruces/go-sqlite3/driver"
	"github.com/ngrok/sqlmw"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// otelRig is an OpenTelemetry SDK that keeps what it records in memory.
type otelRig struct {
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
	reader *sdkmetric.ManualReader
	mp     *sdkmetric.MeterProvider
}

func newOtelRig(t *testing.T) *otelRig {
	r := &otelRig{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	r.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(r.spans))
	r.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(r.reader))
	t.Cleanup(func() {
		r.tp.Shutdown(context.Background())
		r.mp.Shutdown(context.Background())
	})
	return r
}

// open opens a fresh database through qlsqlite.Open with the rig's
// providers.
func (r *otelRig) open(t *testing.T, params string, opts ...Option) (*sql.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "otel.db")
	opts = append([]Option{WithTracerProvider(r.tp), WithMeterProvider(r.mp)}, opts...)
	db, err := Open("file:"+path+params, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

// ended returns the ended spans named name.
func (r *otelRig) ended(name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range r.spans.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

func attrs(kvs []attribute.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value.Emit()
	}
	return m
}

func (r *otelRig) metrics(t *testing.T) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

func TestSpans(t *testing.T) {
	rig := newOtelRig(t)
	db, path := rig.open(t, "")
	ctx, parent := rig.tp.Tracer("test").Start(context.Background(), "request")
	defer parent.End()

	if _, err := db.ExecContext(ctx, `CREATE TABLE trades (id INTEGER PRIMARY KEY, symbol TEXT, qty REAL CHECK (qty > 0))`); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := db.ExecContext(ctx, `INSERT INTO trades (symbol, qty) VALUES (?, ?)`, "AAPL", i+1); err != nil {
			t.Fatal(err)
		}
	}
	ins := rig.ended("INSERT trades")
	if len(ins) != 5 {
		t.Fatalf("%d INSERT spans, want 5; spans: %v", len(ins), spanNames(rig.spans.Ended()))
	}
	want := map[string]string{
		"db.system.name":     "sqlite",
		"db.namespace":       path,
		"db.operation.name":  "INSERT",
		"db.collection.name": "trades",
		"db.query.summary":   "INSERT trades",
	}
	got := attrs(ins[0].Attributes())
	for k, v := range want {
		if got[k] != v {
			t.Errorf("INSERT span: %s = %q, want %q", k, got[k], v)
		}
	}
	if text, ok := got["db.query.text"]; ok {
		t.Errorf("INSERT span: db.query.text = %q without WithQueryText", text)
	}
	if ins[0].SpanKind() != trace.SpanKindClient || ins[0].Parent().SpanID() != parent.SpanContext().SpanID() ||
		ins[0].SpanContext().TraceID() != parent.SpanContext().TraceID() || ins[0].Status().Code == codes.Error {
		t.Errorf("INSERT span: kind %v, parent %v, status %v", ins[0].SpanKind(), ins[0].Parent(), ins[0].Status())
	}
	if len(rig.ended("CREATE")) != 1 {
		t.Errorf("no CREATE span: %v", spanNames(rig.spans.Ended()))
	}

	// The span lasts until Rows.Close, with one span for the query, none
	// per row.
	rig.spans.Reset()
	rows, err := db.QueryContext(ctx, `SELECT id, qty FROM trades WHERE symbol = 'AAPL' AND qty > ? ORDER BY id`, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for n < 3 && rows.Next() {
		n++
	}
	if len(rig.spans.Ended()) != 0 || len(rig.spans.Started()) != 1 {
		t.Errorf("after 3 of 5 rows: started %d, ended %v: the span must last until Rows.Close", len(rig.spans.Started()), spanNames(rig.spans.Ended()))
	}
	rows.Close()
	ended := rig.spans.Ended()
	if len(ended) != 1 || ended[0].Name() != "SELECT trades" {
		t.Fatalf("after Rows.Close: spans %v, want one SELECT trades", spanNames(ended))
	}
	if n != 3 || ended[0].Status().Code == codes.Error {
		t.Errorf("read %d rows, status %v", n, ended[0].Status())
	}

	// A failure: error.type is SQLite's extended code, the status an error.
	rig.spans.Reset()
	_, err = db.ExecContext(ctx, `INSERT INTO trades (symbol, qty) VALUES (?, ?)`, "AAPL", -1)
	if !errors.Is(err, sqlite3.CONSTRAINT_CHECK) {
		t.Fatal(err)
	}
	ended = rig.spans.Ended()
	code := strconv.Itoa(int(sqlite3.CONSTRAINT_CHECK))
	if len(ended) != 1 || ended[0].Status().Code != codes.Error || attrs(ended[0].Attributes())["error.type"] != code ||
		attrs(ended[0].Attributes())["db.response.status_code"] != code {
		t.Errorf("failed INSERT: %v status %v attrs %v", spanNames(ended), ended[0].Status(), attrs(ended[0].Attributes()))
	}

	// A deadline: error.type names it.
	rig.spans.Reset()
	dctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, err = db.ExecContext(dctx, `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c`)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal(err)
	}
	if ended = rig.spans.Ended(); len(ended) != 1 || attrs(ended[0].Attributes())["error.type"] != "context.DeadlineExceeded" {
		t.Errorf("deadline: %v %v", spanNames(ended), attrs(ended[0].Attributes()))
	}

	// Ping is not traced.
	rig.spans.Reset()
	if err := db.PingContext(ctx); err != nil {
		t.Fatal(err)
	}
	if len(rig.spans.Started()) != 0 {
		t.Errorf("Ping started spans: %v", spanNames(rig.spans.Ended()))
	}
}

// TestQueryText: with "_query_text=on" (WithQueryText) spans carry
// db.query.text, the fingerprint: an inline literal never reaches it.
func TestQueryText(t *testing.T) {
	rig := newOtelRig(t)
	db, _ := rig.open(t, "?_query_text=on")
	if _, err := db.Exec(`CREATE TABLE trades (id INTEGER PRIMARY KEY, symbol TEXT, qty REAL)`); err != nil {
		t.Fatal(err)
	}
	const query = `SELECT id, qty FROM trades WHERE symbol = 'AAPL' AND qty > ? ORDER BY id`
	rig.spans.Reset()
	rows, err := db.Query(query, 0)
	if err != nil {
		t.Fatal(err)
	}
	rows.Close()
	ended := rig.ended("SELECT trades")
	if len(ended) != 1 {
		t.Fatalf("spans %v, want one SELECT trades", spanNames(rig.spans.Ended()))
	}
	text := attrs(ended[0].Attributes())["db.query.text"]
	if strings.Contains(text, "AAPL") || text != FingerprintOf(query).Text {
		t.Errorf("db.query.text %q, want the fingerprint %q", text, FingerprintOf(query).Text)
	}
}

// seenSampler records every span and keeps, by span name, the attributes
// the span was started with.
type seenSampler struct {
	mu    sync.Mutex
	attrs map[string]map[string]string
}

func (s *seenSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attrs[p.Name] = attrs(p.Attributes)
	return sdktrace.SamplingResult{Decision: sdktrace.RecordAndSample, Tracestate: trace.SpanContextFromContext(p.ParentContext).TraceState()}
}

func (s *seenSampler) Description() string { return "seenSampler" }

func (s *seenSampler) seen(name string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attrs[name]
}

// TestSamplerAttributes: a span starts with its name and kind, and gets its
// attributes once it is known to be recorded; with WithSamplerAttributes
// the sampler sees them at the start. The spans recorded are the same.
func TestSamplerAttributes(t *testing.T) {
	for _, atStart := range []bool{false, true} {
		t.Run(fmt.Sprintf("atStart=%v", atStart), func(t *testing.T) {
			sampler := &seenSampler{attrs: map[string]map[string]string{}}
			spans := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sampler), sdktrace.WithSpanProcessor(spans))
			defer tp.Shutdown(context.Background())
			path := filepath.Join(t.TempDir(), "sampler.db")
			dsn := "file:" + path + "?_query_text=on"
			if !atStart { // the default is on: off through the DSN
				dsn += "&_sampler_attributes=off"
			}
			db, err := Open(dsn, WithTracerProvider(tp))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec(`CREATE TABLE trades (id INTEGER PRIMARY KEY, symbol TEXT)`); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(`INSERT INTO trades (symbol) VALUES (?)`, "AAPL"); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{
				"db.system.name":     "sqlite",
				"db.namespace":       path,
				"db.operation.name":  "INSERT",
				"db.collection.name": "trades",
				"db.query.summary":   "INSERT trades",
				"db.query.text":      "INSERT INTO trades(symbol) VALUES (?)",
			}
			var got map[string]string
			for _, s := range spans.Ended() {
				if s.Name() == "INSERT trades" {
					got = attrs(s.Attributes())
				}
			}
			if !maps.Equal(got, want) {
				t.Errorf("recorded span: attributes %v, want %v", got, want)
			}
			seen := sampler.seen("INSERT trades")
			if atStart && !maps.Equal(seen, want) {
				t.Errorf("WithSamplerAttributes(true): the sampler saw %v, want %v", seen, want)
			}
			if !atStart && len(seen) != 0 {
				t.Errorf("WithSamplerAttributes(false): the sampler saw %v, want none", seen)
			}
		})
	}
}

// TestUnsampledCallAllocs: a call whose span the sampler drops allocates
// what the SDK must (the span and the context that carries it), not a copy
// of the span's attributes, which it gets only once recorded; and the
// duration's attribute set is made once per query shape, not per call.
func TestUnsampledCallAllocs(t *testing.T) {
	tp, mp := sdkProviders(t, sdktrace.NeverSample())
	o := telemetryObserver(t, tp, mp, WithSamplerAttributes(false))
	ctx := context.Background()
	call := func() {
		cctx, c := o.begin(ctx, observedQuery)
		o.end(cctx, &c, 1, 2, nil)
	}
	call()
	if n := testing.AllocsPerRun(1000, call); n > 2 {
		t.Errorf("an unsampled call allocates %v times, want at most 2 (the span, its context)", n)
	}
}

func spanNames(spans []sdktrace.ReadOnlySpan) []string {
	var names []string
	for _, s := range spans {
		names = append(names, s.Name())
	}
	return names
}

// TestSpansTransactionAndSavepoint: BEGIN, the statements and COMMIT are
// spans under the caller's span, and ncruces's Savepoint, which passes a
// private context through an empty Exec, keeps working with tracing on.
func TestSpansTransactionAndSavepoint(t *testing.T) {
	rig := newOtelRig(t)
	db, _ := rig.open(t, "")
	ctx, parent := rig.tp.Tracer("test").Start(context.Background(), "request")
	defer parent.End()
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (n INTEGER)`); err != nil {
		t.Fatal(err)
	}
	rig.spans.Reset()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO t VALUES (?)`, 1); err != nil {
		t.Fatal(err)
	}
	sp := ncruces.Savepoint(tx)
	if _, err := tx.ExecContext(ctx, `INSERT INTO t VALUES (?)`, 2); err != nil {
		t.Fatal(err)
	}
	undo := errors.New("undo")
	sp.Release(&undo) // rolls back to the savepoint and releases it
	sp = ncruces.Savepoint(tx)
	if _, err := tx.ExecContext(ctx, `INSERT INTO t VALUES (?)`, 3); err != nil {
		t.Fatal(err)
	}
	var kept error
	sp.Release(&kept)
	if kept != nil {
		t.Fatalf("savepoint release: %v", kept)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	var sum int
	if err := db.QueryRowContext(ctx, `SELECT sum(n) FROM t`).Scan(&sum); err != nil || sum != 4 {
		t.Fatalf("sum %d, %v: the savepoint did not roll back the 2", sum, err)
	}
	names := spanNames(rig.spans.Ended())
	wantOrder := []string{"BEGIN", "INSERT t", "INSERT t", "INSERT t", "COMMIT", "SELECT t"}
	if strings.Join(names, ",") != strings.Join(wantOrder, ",") {
		t.Errorf("spans %v, want %v", names, wantOrder)
	}
	for _, s := range rig.spans.Ended() {
		if s.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("span %s is not a child of the request", s.Name())
		}
	}
	snap := mustStats(t, db)
	if q := statsOf(t, snap, "BEGIN"); q.Calls != 1 {
		t.Errorf("BEGIN calls %d", q.Calls)
	}
	if q := statsOf(t, snap, "COMMIT"); q.Calls != 1 {
		t.Errorf("COMMIT calls %d", q.Calls)
	}
}

func TestNoRootSpans(t *testing.T) {
	rig := newOtelRig(t)
	db, _ := rig.open(t, "", WithRootSpans(false))
	if _, err := db.Exec(`CREATE TABLE t (n)`); err != nil {
		t.Fatal(err)
	}
	if n := len(rig.spans.Started()); n != 0 {
		t.Errorf("WithRootSpans(false): %d spans without a parent", n)
	}
	ctx, parent := rig.tp.Tracer("test").Start(context.Background(), "request")
	if _, err := db.ExecContext(ctx, `INSERT INTO t VALUES (?)`, 1); err != nil {
		t.Fatal(err)
	}
	parent.End()
	if got := spanNames(rig.spans.Ended()); len(got) != 2 || got[0] != "INSERT t" {
		t.Errorf("with a parent: spans %v", got)
	}

	off, _ := rig.open(t, "?_trace=off")
	rig.spans.Reset()
	if _, err := off.ExecContext(ctx, `CREATE TABLE t (n)`); err != nil {
		t.Fatal(err)
	}
	if n := len(rig.spans.Started()); n != 0 {
		t.Errorf("_trace=off: %d spans", n)
	}
}

// TestErrSkipIsNoError drives the observer with ncruces's own connection,
// which answers an Exec with arguments with driver.ErrSkip: the call is
// neither counted nor traced as an error.
func TestErrSkipIsNoError(t *testing.T) {
	rig := newOtelRig(t)
	db, path := rig.open(t, "")
	if _, err := db.Exec(`CREATE TABLE t (n)`); err != nil {
		t.Fatal(err)
	}
	dc, err := (&ncruces.SQLite{}).Open("file:" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	obs := db.Driver().(*Driver).db.obs
	var sc sqliteConn
	o := obs.interceptor(&sc.connCore, sqlmw.NullInterceptor{}).(*observer)
	rig.spans.Reset()
	_, err = o.ConnExecContext(context.Background(), dc.(driver.ExecerContext), `INSERT INTO t VALUES (?)`, []driver.NamedValue{{Ordinal: 1, Value: int64(1)}})
	if err != driver.ErrSkip {
		t.Fatalf("ncruces answered %v, want ErrSkip", err)
	}
	for _, s := range rig.spans.Ended() {
		if s.Status().Code == codes.Error {
			t.Errorf("span %s has an error status for ErrSkip", s.Name())
		}
	}
	for _, r := range sc.stats.fps {
		if r.counters.calls != 0 || r.counters.errorCount() != 0 {
			t.Errorf("ErrSkip counted: %+v", r.counters)
		}
	}
}

func TestMetrics(t *testing.T) {
	rig := newOtelRig(t)
	db, path := rig.open(t, "")
	db.SetMaxOpenConns(3)
	if _, err := db.Exec(`CREATE TABLE t (n INTEGER UNIQUE)`); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if _, err := db.Exec(`INSERT INTO t VALUES (?)`, i); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(`INSERT INTO t VALUES (?)`, 0); !errors.Is(err, sqlite3.CONSTRAINT_UNIQUE) {
		t.Fatal(err)
	}
	conn, err := db.Conn(context.Background()) // one connection in use
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	ms := rig.metrics(t)
	dur, ok := ms["db.client.operation.duration"].Data.(metricdata.Histogram[float64])
	if !ok || ms["db.client.operation.duration"].Unit != "s" {
		t.Fatalf("db.client.operation.duration: %+v", ms["db.client.operation.duration"])
	}
	var okCount, errCount uint64
	for _, dp := range dur.DataPoints {
		a := attrs(dp.Attributes.ToSlice())
		if a["db.operation.name"] != "INSERT" {
			continue
		}
		if a["db.system.name"] != "sqlite" || a["db.namespace"] != path || a["db.collection.name"] != "t" {
			t.Errorf("attributes %v", a)
		}
		if a["error.type"] == "" {
			okCount += dp.Count
		} else if a["error.type"] == strconv.Itoa(int(sqlite3.CONSTRAINT_UNIQUE)) {
			errCount += dp.Count
			if dp.Sum <= 0 {
				t.Errorf("failed INSERTs took %v s", dp.Sum)
			}
		}
	}
	if okCount != 4 || errCount != 1 {
		t.Errorf("INSERT durations: %d ok, %d failed, want 4 and 1", okCount, errCount)
	}

	totals := db.Driver().(*Driver).db.stmtCacheTotals()
	for name, want := range map[string]uint64{"qlsqlite.stmt_cache.hits": totals.Hits, "qlsqlite.stmt_cache.misses": totals.Misses} {
		sum, ok := ms[name].Data.(metricdata.Sum[int64])
		if !ok || len(sum.DataPoints) != 1 || uint64(sum.DataPoints[0].Value) != want || !sum.IsMonotonic {
			t.Errorf("%s: %+v, want %d", name, ms[name].Data, want)
		}
	}
	if totals.Hits != 4 { // the INSERT prepared once, then taken from the cache 4 times
		t.Errorf("statement cache hits %d, want 4", totals.Hits)
	}
	if g, ok := ms["qlsqlite.breaker.state"].Data.(metricdata.Gauge[int64]); !ok || len(g.DataPoints) != 1 || g.DataPoints[0].Value != 0 {
		t.Errorf("qlsqlite.breaker.state: %+v, want one point, 0 (closed)", ms["qlsqlite.breaker.state"].Data)
	}

	count, ok := ms["db.client.connection.count"].Data.(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("db.client.connection.count: %+v", ms["db.client.connection.count"])
	}
	stats := db.Stats()
	for _, dp := range count.DataPoints {
		a := attrs(dp.Attributes.ToSlice())
		want := int64(stats.Idle)
		if a["db.client.connection.state"] == "used" {
			want = int64(stats.InUse)
		}
		if dp.Value != want || a["db.client.connection.pool.name"] != path {
			t.Errorf("connection count %v = %d, want %d", a, dp.Value, want)
		}
	}
	if stats.InUse != 1 || len(count.DataPoints) != 2 {
		t.Errorf("in use %d, %d points", stats.InUse, len(count.DataPoints))
	}
	if mx, ok := ms["db.client.connection.max"].Data.(metricdata.Sum[int64]); !ok || len(mx.DataPoints) != 1 || mx.DataPoints[0].Value != 3 {
		t.Errorf("db.client.connection.max: %+v", ms["db.client.connection.max"].Data)
	}
}

// TestPoolWaitMetric: waits for a connection reach
// db.client.connection.wait_time when the monitor samples the pool.
func TestPoolWaitMetric(t *testing.T) {
	rig := newOtelRig(t)
	clock := newFakeClock()
	db, _ := rig.open(t, "", WithClock(clock))
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		var n int
		done <- db.QueryRow(`SELECT 1`).Scan(&n) // waits for conn
	}()
	for db.Stats().WaitCount == 0 {
		runtime.Gosched()
	}
	conn.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	m := db.Driver().(*Driver).db.obs.monitor
	m.tick(clock.advance(10 * time.Second))
	h, ok := rig.metrics(t)["db.client.connection.wait_time"].Data.(metricdata.Histogram[float64])
	if !ok || len(h.DataPoints) != 1 {
		t.Fatalf("db.client.connection.wait_time: %+v", h)
	}
	st := db.Stats()
	if dp := h.DataPoints[0]; dp.Count != uint64(st.WaitCount) || dp.Count != 1 || dp.Sum < st.WaitDuration.Seconds()*0.999 {
		t.Errorf("wait time: %d waits, %v s; the pool says %d, %v", dp.Count, dp.Sum, st.WaitCount, st.WaitDuration)
	}
}

// TestWALSizeMetric: qlsqlite.wal.size reports the WAL's size in bytes as
// the monitor last read it, from its first sample on.
func TestWALSizeMetric(t *testing.T) {
	rig := newOtelRig(t)
	clock := newFakeClock()
	db, _ := rig.open(t, "", WithClock(clock))
	if _, err := db.Exec(`CREATE TABLE t (n)`); err != nil {
		t.Fatal(err)
	}
	if m, ok := rig.metrics(t)["qlsqlite.wal.size"]; ok {
		t.Errorf("qlsqlite.wal.size before the monitor read the storage: %+v", m.Data)
	}
	m := db.Driver().(*Driver).db.obs.monitor
	m.tick(clock.advance(10 * time.Second))
	snap := mustStats(t, db)
	metric := rig.metrics(t)["qlsqlite.wal.size"]
	g, ok := metric.Data.(metricdata.Gauge[int64])
	if !ok || len(g.DataPoints) != 1 || metric.Unit != "By" {
		t.Fatalf("qlsqlite.wal.size: unit %q, %+v", metric.Unit, metric.Data)
	}
	wal := snap.Database.Storage.WALBytes
	if a := attrs(g.DataPoints[0].Attributes.ToSlice()); g.DataPoints[0].Value != wal || wal <= 0 || a["db.system.name"] != "sqlite" {
		t.Errorf("qlsqlite.wal.size = %d %v, want the WAL's %d bytes", g.DataPoints[0].Value, a, wal)
	}
}

func TestMetricsOff(t *testing.T) {
	rig := newOtelRig(t)
	db, _ := rig.open(t, "?_metrics=off")
	if _, err := db.Exec(`CREATE TABLE t (n)`); err != nil {
		t.Fatal(err)
	}
	if ms := rig.metrics(t); len(ms) != 0 {
		t.Errorf("_metrics=off: %d metrics", len(ms))
	}
}

// openWithGlobalProviders opens a database on OpenTelemetry's global
// providers, with a table t.
func openWithGlobalProviders(t *testing.T) (*sql.DB, *telemetry) {
	t.Helper()
	db, err := sql.Open(DriverName, "file:"+filepath.Join(t.TempDir(), "global.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE t (n)`); err != nil {
		t.Fatal(err)
	}
	return db, db.Driver().(*Driver).db.obs.tel
}

// With the default (global) provider, no span is started until a program
// installs a tracer provider; one installed later is used from then on.
func TestGlobalTracerProviderInstalledLater(t *testing.T) {
	db, tel := openWithGlobalProviders(t)
	if tel.tracing() {
		t.Fatal("spans are started with no tracer provider installed")
	}

	recorder := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	defer tp.Shutdown(context.Background())
	old := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	defer otel.SetTracerProvider(old)

	if _, err := db.Exec(`INSERT INTO t VALUES (?)`, 1); err != nil {
		t.Fatal(err)
	}
	if !tel.tracing() {
		t.Fatal("the installed provider is not used")
	}
	spans := recorder.Ended()
	if len(spans) != 1 || !strings.HasPrefix(spans[0].Name(), "INSERT") {
		t.Errorf("spans after installing a provider: %d", len(spans))
	}
}

// Likewise, durations are recorded only once a meter provider is installed.
func TestGlobalMeterProviderInstalledLater(t *testing.T) {
	db, tel := openWithGlobalProviders(t)
	if tel.metering() {
		t.Fatal("durations are recorded with no meter provider installed")
	}
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	old := otel.GetMeterProvider()
	otel.SetMeterProvider(mp)
	defer otel.SetMeterProvider(old)
	if _, err := db.Exec(`INSERT INTO t VALUES (?)`, 1); err != nil {
		t.Fatal(err)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if h, ok := m.Data.(metricdata.Histogram[float64]); ok && m.Name == "db.client.operation.duration" && len(h.DataPoints) > 0 {
				found = true
			}
		}
	}
	if !tel.metering() || !found {
		t.Errorf("after installing a meter provider: metering %v, duration recorded %v", tel.metering(), found)
	}
}
