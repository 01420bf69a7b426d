// Command otlp runs a little trading workload on a qlsqlite database and
// exports its spans and metrics with OTLP over HTTP, to an OpenTelemetry
// Collector, Jaeger, Grafana Tempo/Mimir or anything else that speaks OTLP.
//
//	docker run -p 4318:4318 otel/opentelemetry-collector   # or any OTLP endpoint
//	go run . --endpoint localhost:4318
//
// It is a module of its own so that qlsqlite's module does not depend on the
// exporters (and, through them, on gRPC and protobuf).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/quantumleap/qlsqlite"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

func main() {
	endpoint := flag.String("endpoint", "localhost:4318", "OTLP/HTTP endpoint (host:port)")
	path := flag.String("db", "otlp-example.db", "database file")
	flag.Parse()
	if err := run(context.Background(), *endpoint, *path); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, endpoint, path string) (err error) {
	// The SDK: spans batched to the exporter, metrics read every 5 seconds.
	traces, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(endpoint), otlptracehttp.WithInsecure())
	if err != nil {
		return err
	}
	metrics, err := otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpoint(endpoint), otlpmetrichttp.WithInsecure())
	if err != nil {
		return err
	}
	res := resource.NewSchemaless(attribute.String("service.name", "qlsqlite-otlp-example"))
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(traces), sdktrace.WithResource(res))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res),
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(metrics, sdkmetric.WithInterval(5*time.Second))))
	defer func() {
		// Shutdown flushes what is still buffered.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = errors.Join(err, tp.Shutdown(ctx), mp.Shutdown(ctx))
	}()

	// qlsqlite uses the global providers unless told otherwise
	// (qlsqlite.WithTracerProvider, qlsqlite.WithMeterProvider), and
	// forwards to providers installed after the database was opened.
	otel.SetTracerProvider(tp)
	otel.SetMeterProvider(mp)

	// qlsqlite.Open, unlike sql.Open, also starts the monitor, which reports
	// the connection pool (db.client.connection.*) and evaluates alerts.
	db, err := qlsqlite.Open("file:" + path)
	if err != nil {
		return err
	}
	defer db.Close()
	defer os.Remove(path)
	db.SetMaxOpenConns(4)

	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS trades (
		id INTEGER PRIMARY KEY, symbol TEXT NOT NULL, quantity REAL NOT NULL, price REAL NOT NULL)`); err != nil {
		return err
	}
	tracer := tp.Tracer("otlp-example")
	for i := range 100 {
		// Each "request" is a span; qlsqlite's spans are its children.
		ctx, span := tracer.Start(ctx, "POST /trades")
		_, err := db.ExecContext(ctx, `INSERT INTO trades (symbol, quantity, price) VALUES (?, ?, ?)`, fmt.Sprintf("SYM%d", i%10), i+1, 100+float64(i)/10)
		if err == nil {
			var n int
			err = db.QueryRowContext(ctx, `SELECT count(*) FROM trades WHERE symbol = ?`, fmt.Sprintf("SYM%d", i%10)).Scan(&n)
		}
		span.End()
		if err != nil {
			return err
		}
	}

	snap, err := qlsqlite.Stats(db)
	if err != nil {
		return err
	}
	for _, q := range snap.Queries {
		fmt.Printf("%6d calls  p95 %-10v %s\n", q.Calls, q.P95, q.Fingerprint.Text)
	}
	return nil
}
