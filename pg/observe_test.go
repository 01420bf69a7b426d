package pg

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/quantumleap/qlsqlite"
)

// Spans and metrics name PostgreSQL: db.system.name=postgresql, the
// database's name as db.namespace, SQLSTATE as db.response.status_code, and
// the pool's connections.
func TestTelemetryNamesPostgreSQL(t *testing.T) {
	name := newDatabase(t)
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	c, err := NewConnector(srv.URL(name), qlsqlite.WithTracerProvider(tp), qlsqlite.WithMeterProvider(mp), qlsqlite.WithRootSpans(true))
	if err != nil {
		t.Fatal(err)
	}
	db, err := qlsqlite.OpenConnector(c)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	mustExec(t, db, `CREATE TABLE t (id int PRIMARY KEY)`, `INSERT INTO t VALUES (1)`)
	if _, err := db.ExecContext(ctx, `INSERT INTO t VALUES ($1)`, 1); err == nil {
		t.Fatal("duplicate insert succeeded")
	}
	var found, failed bool
	for _, s := range spans.Ended() {
		attrs := attribute.NewSet(s.Attributes()...)
		if v, _ := attrs.Value("db.system.name"); v.AsString() != "postgresql" {
			t.Errorf("span %q: db.system.name %q", s.Name(), v.AsString())
		}
		if v, _ := attrs.Value("db.namespace"); v.AsString() != name {
			t.Errorf("span %q: db.namespace %q, want %q", s.Name(), v.AsString(), name)
		}
		if strings.HasPrefix(s.Name(), "INSERT") {
			found = true
			if v, ok := attrs.Value("db.response.status_code"); ok && v.AsString() == "23505" {
				failed = true
			}
		}
	}
	if !found || !failed {
		t.Errorf("no INSERT span (%v), or none with status code 23505 (%v)", found, failed)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			seen[m.Name] = true
		}
	}
	for _, want := range []string{"db.client.operation.duration", "db.client.connection.count", "db.client.connection.max"} {
		if !seen[want] {
			t.Errorf("no %s metric; got %v", want, seen)
		}
	}
}

// Health reports the server: connections by state, the database's size,
// and the transactions open too long, by fingerprint, never their values.
func TestHealthReportsTheServer(t *testing.T) {
	db, _ := newDB(t, "_long_transaction=10ms")
	ctx := context.Background()
	h, err := qlsqlite.Health(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if h.Status != qlsqlite.HealthOK || h.Server == nil {
		t.Fatalf("fresh database: %s %v, server %+v", h.Status, h.Problems, h.Server)
	}
	if h.Server.SizeBytes <= 0 || h.Server.Version == "" || h.Server.Standby || h.Integrity != nil {
		t.Errorf("server report %+v, integrity %v", h.Server, h.Integrity)
	}
	// The integrity check is SQLite's: asked for, it says what to use, and
	// Health stays as it was.
	if _, err := qlsqlite.CheckIntegrity(ctx, db); err == nil || !strings.Contains(err.Error(), "amcheck") {
		t.Errorf("CheckIntegrity on PostgreSQL: %v", err)
	}
	if h, _ := qlsqlite.Health(ctx, db); h.Status != qlsqlite.HealthOK {
		t.Errorf("after CheckIntegrity: %s %v", h.Status, h.Problems)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT 'secret-value', pg_sleep(0.05)`); err != nil {
		t.Fatal(err)
	}
	h, err = qlsqlite.Health(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if h.Status != qlsqlite.HealthDegraded || len(h.Server.LongTransactions) != 1 {
		t.Fatalf("with a transaction open 50ms: %s %v, %+v", h.Status, h.Problems, h.Server.LongTransactions)
	}
	lt := h.Server.LongTransactions[0]
	if lt.State != "idle in transaction" || strings.Contains(lt.Query, "secret") || !strings.Contains(lt.Query, "pg_sleep") {
		t.Errorf("long transaction %+v", lt)
	}
	if h.Server.Connections["idle in transaction"] != 1 {
		t.Errorf("connections by state: %v", h.Server.Connections)
	}
}

// qlsqlite.Handler serves a qlpg database as it does a SQLite one:
// /healthz with the server's report, /readyz from the breaker and the pool.
func TestHandlerServesPostgreSQL(t *testing.T) {
	db, _ := newDB(t)
	h, err := qlsqlite.Handler(db)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"ok"`) && !strings.Contains(rec.Body.String(), `"ready":true`) {
			t.Errorf("%s: %d %s", path, rec.Code, rec.Body)
		}
	}
	// The monitoring pages load too; what is SQLite's alone (sizes per
	// table, the WAL's checkpoint) says what to read instead.
	// A server's database has no file to keep a history beside: none
	// starts unless _history says where.
	if files, _ := filepath.Glob("*history*"); len(files) != 0 {
		t.Errorf("Handler made history files %v", files)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM pg_class WHERE relkind = $1`, "r").Scan(&n); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"/":            "Overview",
		"/queries":     "FROM pg_class",
		"/space":       "pg_total_relation_size",
		"/connections": "connections",
		"/maintenance": "Maintenance",
		"/alerts":      "Alerts",
		"/metrics":     "db_client_operation_duration_seconds",
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), want) {
			t.Errorf("%s: %d, lacks %q\n%s", path, rec.Code, want, rec.Body)
		}
	}
	db.Close()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 503 {
		t.Errorf("/readyz after Close: %d %s", rec.Code, rec.Body)
	}
}
