package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
	"github.com/quantumleap/qlsqlite"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// qlsqliteScope is the instrumentation scope of qlsqlite's spans and
// metrics; programScope the program's own.
const (
	qlsqliteScope = "github.com/quantumleap/qlsqlite"
	programScope  = "qlsqlite-otlp-example"
)

// durationBuckets are the bucket boundaries the database conventions advise
// for db.client.operation.duration.
var durationBuckets = []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10}

// fastQueueSize is fastExport's span queue: more spans than
// TestCollectorDown's up phase ends (upHandlers handlers, about 200 spans),
// so that none of those is dropped, and fewer than its stalled phase ends
// while the exports wait (stalledHandlers handlers), so that the queue
// fills: a span that ends then must be dropped, not waited for.
const fastQueueSize = 256

// fastExport exports every few milliseconds, so that tests do not wait for
// the SDK's batching; the Collector is on loopback. Its span queue is
// small (fastQueueSize).
func fastExport(protocol, endpoint string) exportConfig {
	return exportConfig{
		Endpoint: endpoint, Protocol: protocol,
		BatchTimeout: 20 * time.Millisecond, QueueSize: fastQueueSize, MetricInterval: 20 * time.Millisecond,
		ExportTimeout: 20 * time.Second,
		RetryInitial:  20 * time.Millisecond, RetryMax: 200 * time.Millisecond, RetryElapsed: time.Minute,
		ReconnectMax: 200 * time.Millisecond,
	}
}

// startProgram sets up the program's telemetry and service as run does, on
// a database in the test's temporary directory; both close when the test
// ends.
func startProgram(t *testing.T, exp exportConfig, queryText bool) (*providers, *service, string) {
	t.Helper()
	p := startProviders(t, exp)
	path := filepath.Join(t.TempDir(), "otlp.db")
	svc, err := openService(context.Background(), testDB(path, queryText), p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.close() })
	return p, svc, path
}

// startProviders sets up the program's telemetry as run does; it shuts
// down when the test ends.
func startProviders(t *testing.T, exp exportConfig) *providers {
	t.Helper()
	p, err := newProviders(context.Background(), exp)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		p.shutdown(ctx)
	})
	return p
}

// testDB is the tests' database configuration: the database at path,
// sampled by qlsqlite's monitor every few milliseconds.
func testDB(path string, queryText bool) dbConfig {
	return dbConfig{Path: path, QueryText: queryText, Monitor: 20 * time.Millisecond}
}

// eventually flushes the program's telemetry and checks cond until it
// holds, and fails the test after timeout with cond's last word.
func eventually(t *testing.T, p *providers, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		p.flush(ctx) // an error (a Collector not up yet) only delays the data
		cancel()
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, why)
		}
		<-tick.C
	}
}

// The bound argument values of the workload: none may appear in anything the
// Collector receives. Each is distinctive, so that a match is a leak.
var (
	testSymbols = []string{"QZXA", "QZXB", "QZXC"}
	testUsers   = []string{"usr-7c1f-alpha", "usr-7c1f-beta"}
	testQuotes  = []float64{4321.0987, 5432.1098, 6543.2109}
)

func testOrders() []order {
	var out []order
	for i := range 4 {
		out = append(out, order{
			ClientOrderID: fmt.Sprintf("cid-9e3b-%04d", i),
			UserID:        testUsers[i%2],
			Symbol:        testSymbols[i%3],
			Quantity:      17.125 + float64(i),
			Price:         1234.5678 + float64(i),
		})
	}
	// Two sent again: rejected as duplicates.
	return append(out, out[0], out[3])
}

// boundValues are the workload's argument values as they would appear in
// text.
func boundValues() []string {
	var out []string
	out = append(out, testSymbols...)
	out = append(out, testUsers...)
	for _, q := range testQuotes {
		out = append(out, strconv.FormatFloat(q, 'f', -1, 64))
	}
	for _, o := range testOrders() {
		out = append(out, o.ClientOrderID, strconv.FormatFloat(o.Quantity, 'f', -1, 64), strconv.FormatFloat(o.Price, 'f', -1, 64))
	}
	return out
}

// The statements of the workload, by the span name qlsqlite gives them.
var statementSQL = map[string]string{
	"INSERT quotes":    upsertQuote,
	"INSERT orders":    insertOrder,
	"INSERT positions": upsertPosition,
	"SELECT positions": selectPositions,
	"SELECT quotes":    selectQuote,
	"BEGIN":            "BEGIN",
	"COMMIT":           "COMMIT",
	"ROLLBACK":         "ROLLBACK",
}

// runWorkload runs the test's workload through the program's handlers: three
// quotes, six orders (two of them duplicates) and one portfolio valuation,
// which iterates over the user's two positions.
func runWorkload(t *testing.T, svc *service) {
	t.Helper()
	ctx := context.Background()
	for i, sym := range testSymbols {
		if err := svc.setQuote(ctx, sym, testQuotes[i]); err != nil {
			t.Fatal(err)
		}
	}
	dups := 0
	for _, o := range testOrders() {
		err := svc.placeOrder(ctx, o)
		if errors.Is(err, errDuplicate) {
			dups++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if dups != 2 {
		t.Fatalf("%d duplicates rejected, want 2", dups)
	}
	v, err := svc.portfolioValue(ctx, testUsers[0]) // orders 0 and 2: QZXA and QZXC
	if err != nil {
		t.Fatal(err)
	}
	if want := 17.125*testQuotes[0] + 19.125*testQuotes[2]; v != want {
		t.Fatalf("portfolio value %v, want %v", v, want)
	}
}

// TestCollectorReceives runs the workload with the program's OTLP exporters
// against a real Collector, over each protocol, and checks what the
// Collector received: the spans, their attributes and parents, and the
// metrics. Over HTTP the program keeps the default (no db.query.text); over
// gRPC it opts in.
func TestCollectorReceives(t *testing.T) {
	for _, tc := range []struct {
		protocol  string
		queryText bool
	}{{"http", false}, {"grpc", true}} {
		t.Run(tc.protocol, func(t *testing.T) {
			col := startCollector(t)
			p, svc, path := startProgram(t, fastExport(tc.protocol, col.endpoint(tc.protocol)), tc.queryText)
			runWorkload(t, svc)
			snap, err := qlsqlite.Stats(svc.db)
			if err != nil {
				t.Fatal(err)
			}
			calls := snap.Database.Calls
			// Wait until every statement's span and duration arrived, and
			// the monitor's first storage sample (the WAL's size).
			eventually(t, p, 30*time.Second, func() (bool, string) {
				var n uint64
				for _, s := range col.sink.spans() {
					if s.Scope == qlsqliteScope {
						n++
					}
				}
				if n < calls {
					return false, fmt.Sprintf("%d of %d statement spans received", n, calls)
				}
				m := col.sink.latest()
				if got := histogramCount(m["db.client.operation.duration"]); got < calls {
					return false, fmt.Sprintf("db.client.operation.duration counts %d of %d calls", got, calls)
				}
				if w := m["qlsqlite.wal.size"]; len(w) == 0 || w[0].Int <= 0 {
					return false, fmt.Sprintf("qlsqlite.wal.size: %+v", w)
				}
				return true, ""
			})
			spans := col.sink.spans()
			checkSpans(t, spans, path, tc.queryText)
			checkMetrics(t, col.sink.latest(), path)
			checkNoValues(t, spans, col.sink.metricTexts())
		})
	}
}

// checkSpans checks the spans the Collector received from the workload.
func checkSpans(t *testing.T, spans []gotSpan, path string, queryText bool) {
	t.Helper()
	byID := map[pcommon.SpanID]gotSpan{}
	children := map[pcommon.SpanID][]gotSpan{}
	for _, s := range spans {
		byID[s.SpanID] = s
	}
	for _, s := range spans {
		if s.Resource["service.name"] != serviceName {
			t.Errorf("span %s: resource %v", s.Name, s.Resource)
		}
		if s.Scope != qlsqliteScope {
			continue
		}
		// Every statement is a client span under one of the program's
		// spans, in the same trace.
		parent, ok := byID[s.Parent]
		if !ok || parent.Scope != programScope || parent.TraceID != s.TraceID {
			t.Errorf("statement span %s has no parent among the program's spans (parent %v, %q of %q)", s.Name, s.Parent, parent.Name, parent.Scope)
			continue
		}
		children[s.Parent] = append(children[s.Parent], s)
		checkStatementSpan(t, s, path, queryText)
	}
	for id := range children {
		slices.SortFunc(children[id], func(a, b gotSpan) int { return int(a.Start) - int(b.Start) })
	}

	var orders, dups, quotes, portfolios, migrations int
	for _, s := range spans {
		if s.Scope != programScope {
			continue
		}
		names := spanNamesOf(children[s.SpanID])
		switch s.Name {
		case "migrate":
			migrations++
			if len(names) != 3 {
				t.Errorf("migrate: statements %v, want three CREATE", names)
			}
		case "PUT /quotes":
			quotes++
			if !slices.Equal(names, []string{"INSERT quotes"}) {
				t.Errorf("PUT /quotes: statements %v", names)
			}
		case "POST /orders":
			// The transaction's statements are children of the program's
			// span, as BEGIN and COMMIT are.
			switch {
			case slices.Equal(names, []string{"BEGIN", "INSERT orders", "INSERT positions", "COMMIT"}):
				orders++
			case slices.Equal(names, []string{"BEGIN", "INSERT orders", "ROLLBACK"}):
				dups++
				failed := children[s.SpanID][1]
				code := strconv.Itoa(int(sqlite3.CONSTRAINT_UNIQUE))
				if failed.StatusCode != ptrace.StatusCodeError || failed.Attrs["error.type"] != code || failed.Attrs["db.response.status_code"] != code {
					t.Errorf("duplicate INSERT orders: status %v, attributes %v; want an error, error.type %s", failed.StatusCode, failed.Attrs, code)
				}
			default:
				t.Errorf("POST /orders: statements %v", names)
			}
		case "GET /portfolio":
			portfolios++
			checkRowIteration(t, children[s.SpanID])
		}
	}
	if migrations != 1 || quotes != 3 || orders != 4 || dups != 2 || portfolios != 1 {
		t.Errorf("program spans: %d migrate, %d PUT /quotes, %d orders placed, %d duplicates, %d GET /portfolio; want 1, 3, 4, 2, 1",
			migrations, quotes, orders, dups, portfolios)
	}
}

// checkStatementSpan checks one of qlsqlite's spans: kind, the database
// conventions' attributes, an error only where one is expected, and
// db.query.text only when the program opted in.
func checkStatementSpan(t *testing.T, s gotSpan, path string, queryText bool) {
	t.Helper()
	if s.Kind != ptrace.SpanKindClient || s.Attrs["db.system.name"] != "sqlite" || s.Attrs["db.namespace"] != path {
		t.Errorf("span %s: kind %v, attributes %v", s.Name, s.Kind, s.Attrs)
	}
	if op, table, ok := strings.Cut(s.Name, " "); ok {
		if s.Attrs["db.operation.name"] != op || s.Attrs["db.collection.name"] != table || s.Attrs["db.query.summary"] != s.Name {
			t.Errorf("span %s: attributes %v", s.Name, s.Attrs)
		}
	}
	failed := s.Attrs["error.type"] != ""
	if failed != (s.StatusCode == ptrace.StatusCodeError) || failed && s.Name != "INSERT orders" {
		t.Errorf("span %s: status %v, error.type %q", s.Name, s.StatusCode, s.Attrs["error.type"])
	}
	text, has := s.Attrs["db.query.text"]
	switch sql, known := statementSQL[s.Name]; {
	case !queryText && has:
		t.Errorf("span %s: db.query.text %q, but the program did not opt in", s.Name, text)
	case queryText && known && text != qlsqlite.FingerprintOf(sql).Text:
		t.Errorf("span %s: db.query.text %q, want the fingerprint %q", s.Name, text, qlsqlite.FingerprintOf(sql).Text)
	case queryText && !has:
		t.Errorf("span %s: no db.query.text, but the program opted in", s.Name)
	}
}

// checkRowIteration checks the statements of GET /portfolio: the positions
// query, then a quote lookup per position made while its rows were read,
// each inside the query's span, which lasts until its rows are closed.
func checkRowIteration(t *testing.T, stmts []gotSpan) {
	t.Helper()
	names := spanNamesOf(stmts)
	if !slices.Equal(names, []string{"SELECT positions", "SELECT quotes", "SELECT quotes"}) {
		t.Errorf("GET /portfolio: statements %v", names)
		return
	}
	q := stmts[0]
	for _, lookup := range stmts[1:] {
		if lookup.Start < q.Start || lookup.End > q.End {
			t.Errorf("the quote lookup [%v, %v] made while iterating is not inside the positions query's span [%v, %v]",
				lookup.Start, lookup.End, q.Start, q.End)
		}
	}
}

func spanNamesOf(spans []gotSpan) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}

// checkMetrics checks the metrics the Collector received: the operation
// duration histogram with the conventions' buckets and the counts of the
// workload, the pool, and qlsqlite's own, each with its unit.
func checkMetrics(t *testing.T, m map[string][]gotPoint, path string) {
	t.Helper()
	dur := m["db.client.operation.duration"]
	counts := map[string]uint64{}
	for _, p := range dur {
		if p.Type != pmetric.MetricTypeHistogram || p.Unit != "s" || !slices.Equal(p.Bounds, durationBuckets) ||
			p.Temporality != pmetric.AggregationTemporalityCumulative || p.Scope != qlsqliteScope {
			t.Errorf("db.client.operation.duration: %v, unit %q, bounds %v, temporality %v, scope %q", p.Type, p.Unit, p.Bounds, p.Temporality, p.Scope)
		}
		if p.Attrs["db.system.name"] != "sqlite" || p.Attrs["db.namespace"] != path {
			t.Errorf("db.client.operation.duration attributes %v", p.Attrs)
		}
		key := p.Attrs["db.query.summary"]
		if e := p.Attrs["error.type"]; e != "" {
			key += " error.type=" + e
		}
		counts[key] += p.Count
	}
	want := map[string]uint64{
		"INSERT quotes": 3, "INSERT orders": 4, "INSERT positions": 4,
		"INSERT orders error.type=" + strconv.Itoa(int(sqlite3.CONSTRAINT_UNIQUE)): 2,
		"SELECT positions": 1, "SELECT quotes": 2,
	}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("db.client.operation.duration: %d %s, want %d (all: %v)", counts[k], k, n, counts)
		}
	}

	for _, c := range []struct {
		name, unit string
		typ        pmetric.MetricType
		monotonic  bool
	}{
		{"db.client.connection.count", "{connection}", pmetric.MetricTypeSum, false},
		{"db.client.connection.max", "{connection}", pmetric.MetricTypeSum, false},
		{"qlsqlite.stmt_cache.hits", "{statement}", pmetric.MetricTypeSum, true},
		{"qlsqlite.stmt_cache.misses", "{statement}", pmetric.MetricTypeSum, true},
		{"qlsqlite.stmt_cache.evictions", "{statement}", pmetric.MetricTypeSum, true},
		{"qlsqlite.breaker.state", "{state}", pmetric.MetricTypeGauge, false},
		{"qlsqlite.wal.size", "By", pmetric.MetricTypeGauge, false},
	} {
		points := m[c.name]
		if len(points) == 0 {
			t.Errorf("%s: not received", c.name)
		}
		for _, p := range points {
			if p.Unit != c.unit || p.Type != c.typ || p.Monotonic != c.monotonic || p.Scope != qlsqliteScope || p.Description == "" {
				t.Errorf("%s: unit %q, %v, monotonic %v, scope %q, description %q; want %q, %v, monotonic %v",
					c.name, p.Unit, p.Type, p.Monotonic, p.Scope, p.Description, c.unit, c.typ, c.monotonic)
			}
		}
	}
	states := map[string]bool{}
	for _, p := range m["db.client.connection.count"] {
		states[p.Attrs["db.client.connection.state"]] = true
		if p.Attrs["db.client.connection.pool.name"] != path || p.Int < 0 {
			t.Errorf("db.client.connection.count: %v = %d", p.Attrs, p.Int)
		}
	}
	if !states["idle"] || !states["used"] {
		t.Errorf("db.client.connection.count by state: %v, want idle and used", states)
	}
	if max := m["db.client.connection.max"]; len(max) != 1 || max[0].Int != 32 {
		t.Errorf("db.client.connection.max: %+v, want 32 (qlsqlite's default pool)", max)
	}
	if misses := m["qlsqlite.stmt_cache.misses"]; len(misses) != 1 || misses[0].Int <= 0 {
		t.Errorf("qlsqlite.stmt_cache.misses: %+v", misses)
	}
	if hits := m["qlsqlite.stmt_cache.hits"]; len(hits) != 1 || hits[0].Int <= 0 {
		t.Errorf("qlsqlite.stmt_cache.hits: %+v", hits)
	}
	if b := m["qlsqlite.breaker.state"]; len(b) != 1 || b[0].Int != 0 {
		t.Errorf("qlsqlite.breaker.state: %+v, want 0 (closed)", b)
	}
	if w := m["qlsqlite.wal.size"]; len(w) != 1 || w[0].Int <= 0 || w[0].Attrs["db.namespace"] != path {
		t.Errorf("qlsqlite.wal.size: %+v", w)
	}
}

// histogramCount is the number of measurements in a histogram's points.
func histogramCount(points []gotPoint) (n uint64) {
	for _, p := range points {
		n += p.Count
	}
	return n
}

// checkNoValues searches every string the Collector received for the
// workload's argument values.
func checkNoValues(t *testing.T, spans []gotSpan, metricTexts []string) {
	t.Helper()
	var texts []string
	for _, s := range spans {
		texts = append(texts, s.Name, s.StatusMessage)
		texts = append(texts, s.EventTexts...)
		texts = append(texts, s.LinkText...)
		for _, m := range []map[string]string{s.Attrs, s.Resource} {
			for k, v := range m {
				texts = append(texts, k, v)
			}
		}
	}
	texts = append(texts, metricTexts...)
	if !slices.Contains(texts, "INSERT orders") || !slices.Contains(texts, "db.client.operation.duration") {
		t.Fatalf("the %d strings searched miss the workload's spans or metrics", len(texts))
	}
	for _, v := range boundValues() {
		for _, text := range texts {
			if strings.Contains(text, v) {
				t.Errorf("the argument value %q reached the Collector in %q", v, text)
			}
		}
	}
}
