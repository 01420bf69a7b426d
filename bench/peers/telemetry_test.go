package peers

import (
	"context"
	"database/sql"
	"testing"

	"github.com/XSAM/otelsql"
	"github.com/quantumleap/qlsqlite"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// The cost of telemetry: qlsqlite against XSAM/otelsql over the same
// (ncruces) driver, each with the OpenTelemetry SDK recording every span
// (always sampled, batched to an exporter that drops them) and its metrics
// (aggregated for a reader); and qlsqlite with a 1% trace sample and the
// metrics on, against no-op providers.

// discard is a span exporter that drops what it is given.
type discard struct{}

func (discard) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discard) Shutdown(context.Context) error                             { return nil }

// sdk returns providers of the OpenTelemetry SDK with sampler.
func sdk(b *testing.B, sampler sdktrace.Sampler) (trace.TracerProvider, metric.MeterProvider) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sampler), sdktrace.WithBatcher(discard{}))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() {
		tp.Shutdown(context.Background())
		mp.Shutdown(context.Background())
	})
	return tp, mp
}

// telemetryDriver is a driver with its telemetry providers.
type telemetryDriver struct {
	name string
	open func(b *testing.B, path string) *sql.DB
}

func qlsqliteWith(providers func(*testing.B) (trace.TracerProvider, metric.MeterProvider)) func(*testing.B, string) *sql.DB {
	return func(b *testing.B, path string) *sql.DB {
		tp, mp := providers(b)
		c, err := qlsqlite.NewConnector("file:"+path+"?"+Pragmas, qlsqlite.WithTracerProvider(tp), qlsqlite.WithMeterProvider(mp))
		must(b, err)
		return sql.OpenDB(c)
	}
}

var (
	everySpan = func(b *testing.B) (trace.TracerProvider, metric.MeterProvider) {
		return sdk(b, sdktrace.AlwaysSample())
	}
	onePercent = func(b *testing.B) (trace.TracerProvider, metric.MeterProvider) {
		return sdk(b, sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.01)))
	}
	noop = func(*testing.B) (trace.TracerProvider, metric.MeterProvider) {
		return tracenoop.NewTracerProvider(), metricnoop.NewMeterProvider()
	}
)

// sdkDrivers: otelsql and qlsqlite, both recording every span.
var sdkDrivers = []telemetryDriver{
	{"otelsql", func(b *testing.B, path string) *sql.DB {
		tp, mp := everySpan(b)
		db, err := otelsql.Open("sqlite3", "file:"+path+"?"+Pragmas, otelsql.WithTracerProvider(tp), otelsql.WithMeterProvider(mp))
		must(b, err)
		return db
	}},
	{"qlsqlite", qlsqliteWith(everySpan)},
}

// sampledDrivers: qlsqlite with no-op providers, and with the metrics on
// and 1% of the traces sampled.
var sampledDrivers = []telemetryDriver{
	{"noop", qlsqliteWith(noop)},
	{"sampled", qlsqliteWith(onePercent)},
}

// eachTelemetry runs fn per telemetry driver on a copy of the trading
// database, named driver=NAME.
func eachTelemetry(b *testing.B, ds []telemetryDriver, fn func(b *testing.B, db *sql.DB)) {
	for _, d := range rotate(ds) {
		b.Run("driver="+d.name, func(b *testing.B) {
			src, err := template()
			must(b, err)
			seq++
			path := dir + "/" + d.name + "-" + itoa(seq) + ".db"
			must(b, copyFile(src, path))
			db := d.open(b, path)
			db.SetMaxOpenConns(MaxConns)
			db.SetMaxIdleConns(MaxConns)
			b.Cleanup(func() { db.Close() })
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cpuTime()
			fn(b, db)
			reportCPU(b, cpu)
		})
	}
}

func pointPrepared(b *testing.B, db *sql.DB) {
	ps := positions(b, db)
	ctx := context.Background()
	stmt, err := db.PrepareContext(ctx, pointSelect)
	must(b, err)
	defer stmt.Close()
	var qty, cost float64
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		p := ps[i%len(ps)]
		must(b, stmt.QueryRowContext(ctx, p[0], p[1]).Scan(&qty, &cost))
	}
}

func pointAdhoc(b *testing.B, db *sql.DB) {
	ps := positions(b, db)
	ctx := context.Background()
	var qty, cost float64
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		p := ps[i%len(ps)]
		must(b, db.QueryRowContext(ctx, pointSelect, p[0], p[1]).Scan(&qty, &cost))
	}
}

func BenchmarkTelemetryPrepared(b *testing.B) { eachTelemetry(b, sdkDrivers, pointPrepared) }
func BenchmarkTelemetryAdhoc(b *testing.B)    { eachTelemetry(b, sdkDrivers, pointAdhoc) }
func BenchmarkSampledPrepared(b *testing.B)   { eachTelemetry(b, sampledDrivers, pointPrepared) }
