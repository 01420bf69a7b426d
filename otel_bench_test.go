package qlsqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// sdkProviders returns the OpenTelemetry SDK's providers as the peers'
// telemetry benchmarks set them up: spans by sampler, batched to an
// exporter that drops them, metrics aggregated for a reader that never
// collects.
func sdkProviders(tb testing.TB, sampler sdktrace.Sampler) (trace.TracerProvider, metric.MeterProvider) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sampler), sdktrace.WithBatcher(dropSpans{}))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	tb.Cleanup(func() {
		tp.Shutdown(context.Background())
		mp.Shutdown(context.Background())
	})
	return tp, mp
}

// dropSpans is a span exporter that drops what it is given.
type dropSpans struct{}

func (dropSpans) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (dropSpans) Shutdown(context.Context) error                             { return nil }

// telemetryObserver returns the observer of a pinned connection of a
// fresh database opened with tp and mp, and opts.
func telemetryObserver(tb testing.TB, tp trace.TracerProvider, mp metric.MeterProvider, opts ...Option) *observer {
	tb.Helper()
	opts = append([]Option{WithTracerProvider(tp), WithMeterProvider(mp)}, opts...)
	c, err := NewConnector("file:"+filepath.Join(tb.TempDir(), "otel.db")+"?_slow=0", opts...)
	if err != nil {
		tb.Fatal(err)
	}
	db := sql.OpenDB(c)
	tb.Cleanup(func() { db.Close() })
	pinned, err := db.Conn(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { pinned.Close() })
	var inner *sqliteConn
	pinned.Raw(func(dc any) error {
		inner = sqliteConnOf(dc)
		return nil
	})
	d := db.Driver().(*Driver).db
	return d.obs.interceptor(&inner.connCore, nil).(*observer)
}

// observedQuery is the point SELECT of the peers' telemetry benchmarks.
const observedQuery = `SELECT quantity, average_cost FROM portfolio WHERE user_id = ? AND symbol = ?`

// BenchmarkObserverTelemetry is the observer's work for one successful
// query (begin, then end as Rows.Close ends it) with each telemetry setup
// of bench/peers' TelemetryPrepared and SampledPrepared, without SQLite:
// what qlsqlite and the SDK cost per call, free of the query's own noise.
// It reports the process's CPU time per call besides the wall time: the
// SDK's batch processor and the collector work on goroutines of their own.
func BenchmarkObserverTelemetry(b *testing.B) {
	setups := []struct {
		name      string
		providers func(testing.TB) (trace.TracerProvider, metric.MeterProvider)
	}{
		{"noop", func(testing.TB) (trace.TracerProvider, metric.MeterProvider) {
			return tracenoop.NewTracerProvider(), metricnoop.NewMeterProvider()
		}},
		{"sampled", func(tb testing.TB) (trace.TracerProvider, metric.MeterProvider) {
			return sdkProviders(tb, sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.01)))
		}},
		{"unsampled", func(tb testing.TB) (trace.TracerProvider, metric.MeterProvider) {
			return sdkProviders(tb, sdktrace.NeverSample())
		}},
		{"every-span", func(tb testing.TB) (trace.TracerProvider, metric.MeterProvider) {
			return sdkProviders(tb, sdktrace.AlwaysSample())
		}},
	}
	for _, s := range setups {
		b.Run("providers="+s.name, func(b *testing.B) {
			tp, mp := s.providers(b)
			o := telemetryObserver(b, tp, mp)
			ctx := context.Background()
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				cctx, c := o.begin(ctx, observedQuery)
				o.end(cctx, &c, 1, 2, nil)
			}
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}
