package qlsqlite_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/quantumleap/qlsqlite"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// Stats reports, per query fingerprint, what pg_stat_statements would:
// calls, rows, latency percentiles, errors by class.
func ExampleStats() {
	dir, _ := os.MkdirTemp("", "qlsqlite")
	defer os.RemoveAll(dir)
	db, err := sql.Open("qlsqlite", "file:"+filepath.Join(dir, "trading.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	db.Exec(`CREATE TABLE trades (id INTEGER PRIMARY KEY, symbol TEXT NOT NULL, price REAL NOT NULL)`)
	for i, sym := range []string{"AAPL", "MSFT", "AAPL"} {
		db.Exec(`INSERT INTO trades (symbol, price) VALUES (?, ?)`, sym, 100+i)
	}
	for _, sym := range []string{"AAPL", "MSFT"} {
		var n int
		db.QueryRow(`SELECT count(*) FROM trades WHERE symbol = '` + sym + `'`).Scan(&n) // literals share a fingerprint
	}
	db.Exec(`INSERT INTO trades (symbol, price) VALUES (?, ?)`, nil, 1) // NOT NULL: an integrity error

	snap, err := qlsqlite.Stats(db)
	if err != nil {
		log.Fatal(err)
	}
	for _, q := range snap.Queries {
		if q.Fingerprint.Text == "SELECT count(*) FROM trades WHERE symbol = ?" || q.Calls > 1 {
			fmt.Printf("%s: %d calls, %d rows, errors %v, p50 <= p99: %v\n",
				q.Fingerprint.Text, q.Calls, q.Rows, q.Errors, q.P50 <= q.P99)
		}
	}
	// Unordered output:
	// INSERT INTO trades(symbol, price) VALUES (?, ?): 4 calls, 3 rows, errors map[integrity:1], p50 <= p99: true
	// SELECT count(*) FROM trades WHERE symbol = ?: 2 calls, 2 rows, errors map[], p50 <= p99: true
}

// Health is cheap enough for a probe: it reads the database's size from its
// header, sums up the pool, breaker and alerts, and reports the last
// integrity check, which CheckIntegrity runs (and the monitor, on a
// schedule).
func ExampleHealth() {
	dir, _ := os.MkdirTemp("", "qlsqlite")
	defer os.RemoveAll(dir)
	db, err := qlsqlite.Open("file:" + filepath.Join(dir, "trading.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	db.Exec(`CREATE TABLE trades (id INTEGER PRIMARY KEY, symbol TEXT)`)
	ctx := context.Background()

	report, err := qlsqlite.Health(ctx, db)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("status:", report.Status)
	fmt.Println("pages:", report.Storage.Pages, "free:", report.Storage.FreelistPages)
	fmt.Println("monitored:", report.Monitored)
	fmt.Println("integrity checked:", report.Integrity != nil)

	if _, err := qlsqlite.CheckIntegrity(ctx, db); err != nil {
		log.Fatal(err)
	}
	report, _ = qlsqlite.Health(ctx, db)
	fmt.Println("integrity ok:", report.Integrity.OK(), "tables:", report.Integrity.Tables)
	// Output:
	// status: ok
	// pages: 2 free: 0
	// monitored: true
	// integrity checked: false
	// integrity ok: true tables: 2
}

// Monitor evaluates alerts for a database opened with sql.Open; each alert
// is delivered once when it fires and once when it clears.
func ExampleMonitor() {
	dir, _ := os.MkdirTemp("", "qlsqlite")
	defer os.RemoveAll(dir)
	db, err := sql.Open("qlsqlite", "file:"+filepath.Join(dir, "trading.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	db.Exec(`CREATE TABLE trades (id INTEGER PRIMARY KEY, payload BLOB); INSERT INTO trades (payload) VALUES (zeroblob(20000))`)

	alerts := make(chan qlsqlite.Alert, 1)
	stop, err := qlsqlite.Monitor(db,
		qlsqlite.WithAlertThresholds(qlsqlite.AlertThresholds{DatabaseSize: 10_000}), // bytes; the rest keep their defaults
		qlsqlite.WithMonitorInterval(10*time.Millisecond),
		qlsqlite.WithAlertFunc(func(a qlsqlite.Alert) { alerts <- a }),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer stop()
	a := <-alerts
	fmt.Println(a.Name, a.Firing, a.Value > a.Threshold)
	// Output: database_size true true
}

// Spans go to the global TracerProvider unless WithTracerProvider names
// another; a query's span lasts until its rows are closed. WithQueryText
// (DSN: "_query_text=on") adds db.query.text, the statement's fingerprint.
func Example_openTelemetry() {
	dir, _ := os.MkdirTemp("", "qlsqlite")
	defer os.RemoveAll(dir)
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(context.Background())

	db, err := qlsqlite.Open("file:"+filepath.Join(dir, "trading.db"), qlsqlite.WithTracerProvider(tp), qlsqlite.WithQueryText(true))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	ctx, request := tp.Tracer("app").Start(context.Background(), "GET /positions")
	db.ExecContext(ctx, `CREATE TABLE portfolio (user_id TEXT, symbol TEXT, quantity REAL)`)
	db.ExecContext(ctx, `INSERT INTO portfolio VALUES (?, ?, ?)`, "u1", "AAPL", 10)
	var qty float64
	db.QueryRowContext(ctx, `SELECT quantity FROM portfolio WHERE user_id = ? AND symbol = 'AAPL'`, "u1").Scan(&qty)
	request.End()

	for _, s := range spans.Ended() {
		for _, kv := range s.Attributes() {
			if kv.Key == "db.query.text" {
				fmt.Printf("%-16s %s\n", s.Name(), kv.Value.AsString())
			}
		}
	}
	// Output:
	// CREATE           CREATE TABLE portfolio(user_id TEXT, symbol TEXT, quantity REAL)
	// INSERT portfolio INSERT INTO portfolio VALUES (?, ?, ?)
	// SELECT portfolio SELECT quantity FROM portfolio WHERE user_id = ? AND symbol = ?
}

// Handler serves /healthz (liveness: Health, cheap) and /readyz (can the
// database take a write now) for probes and load balancers.
func ExampleHandler() {
	dir, _ := os.MkdirTemp("", "qlsqlite")
	defer os.RemoveAll(dir)
	db, err := qlsqlite.Open("file:" + filepath.Join(dir, "trading.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	h, err := qlsqlite.Handler(db)
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(http.StripPrefix("/db", h))
	defer srv.Close()

	for _, path := range []string{"/db/healthz", "/db/readyz"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			log.Fatal(err)
		}
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		fmt.Println(path, resp.StatusCode, body["status"], body["ready"])
	}
	// Output:
	// /db/healthz 200 ok <nil>
	// /db/readyz 200 <nil> true
}
