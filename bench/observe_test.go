package bench

import (
	"go.uber.org/goleak"

	"context"
	"database/sql"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/quantumleap/qlsqlite"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// observeConfigs are the observability settings BenchmarkObserve compares,
// cheapest first; bench/ratio prints each one's time over the previous one's.
var observeConfigs = []struct {
	name   string
	params string // DSN parameters
	opts   func(b *testing.B) []qlsqlite.Option
}{
	// Nothing observed: the observer is not even installed.
	{"off", "&_stats=off&_trace=off&_metrics=off&_slow=0", nil},
	// Spans and metrics through no-op providers, no statistics.
	{"stats-off", "&_stats=off", noopProviders},
	// Statistics on, spans and metrics through no-op providers: what a
	// program that installs no OpenTelemetry SDK pays.
	{"noop", "", noopProviders},
	// Statistics on, the OpenTelemetry SDK recording every span (always
	// sampled, batched to an exporter that drops them) and the metrics
	// (aggregated for a reader).
	{"sdk", "", sdkProviders},
	// The same with spans handed to the exporter synchronously
	// (SimpleSpanProcessor): no goroutine hand-off per span.
	{"sdk-sync", "", sdkSyncProviders},
}

// TestMain keeps qlsqlite's slow-query log (on by default, at 100ms) out
// of the benchmarks' output: loading the data has slower statements, and a
// log line written in the middle of a benchmark's result line breaks it for
// benchstat.
func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.DiscardHandler))
	goleak.VerifyTestMain(m) // a closed database leaves no goroutine behind
}

func noopProviders(*testing.B) []qlsqlite.Option {
	return []qlsqlite.Option{
		qlsqlite.WithTracerProvider(tracenoop.NewTracerProvider()),
		qlsqlite.WithMeterProvider(metricnoop.NewMeterProvider()),
	}
}

func sdkProviders(b *testing.B) []qlsqlite.Option {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithBatcher(discard{}))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() {
		tp.Shutdown(context.Background())
		mp.Shutdown(context.Background())
	})
	return []qlsqlite.Option{qlsqlite.WithTracerProvider(tp), qlsqlite.WithMeterProvider(mp)}
}

func sdkSyncProviders(b *testing.B) []qlsqlite.Option {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSyncer(discard{}))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() {
		tp.Shutdown(context.Background())
		mp.Shutdown(context.Background())
	})
	return []qlsqlite.Option{qlsqlite.WithTracerProvider(tp), qlsqlite.WithMeterProvider(mp)}
}

// discard is a span exporter that drops what it is given.
type discard struct{}

func (discard) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discard) Shutdown(context.Context) error                             { return nil }

// openObserved returns a qlsqlite database with the trading data loaded,
// opened with qlsqlite.Open, params and opts.
func openObserved(b *testing.B, params string, opts []qlsqlite.Option) *sql.DB {
	b.Helper()
	db, err := qlsqlite.Open("file:"+filepath.Join(b.TempDir(), "bench.db")+pragmas+params, opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	load(b, db)
	return db
}

// BenchmarkObserve measures what observability costs the prepared point
// SELECT, one sub-benchmark per configuration (obs=off, stats-off, noop,
// sdk), in the same run.
func BenchmarkObserve(b *testing.B) {
	for _, c := range observeConfigs {
		b.Run("obs="+c.name, func(b *testing.B) {
			var opts []qlsqlite.Option
			if c.opts != nil {
				opts = c.opts(b)
			}
			db := openObserved(b, c.params, opts)
			ps := positions(b, db)
			ctx := context.Background()
			stmt, err := db.PrepareContext(ctx, pointSelect)
			if err != nil {
				b.Fatal(err)
			}
			defer stmt.Close()
			var qty, cost float64
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				p := ps[i%len(ps)]
				if err := stmt.QueryRowContext(ctx, p[0], p[1]).Scan(&qty, &cost); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
