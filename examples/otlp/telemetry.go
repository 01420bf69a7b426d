package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// serviceName is the service.name resource attribute of everything the
// program exports.
const serviceName = "qlsqlite-otlp-example"

// exportConfig says where and how the program exports. A zero duration
// or size takes the default written beside it.
type exportConfig struct {
	Endpoint string // host:port of the Collector's OTLP receiver
	Protocol string // "http" (OTLP/HTTP, port 4318) or "grpc" (OTLP/gRPC, port 4317)

	BatchTimeout   time.Duration // spans wait at most this long for a batch (5s)
	QueueSize      int           // spans held for export at most; one that ends while the queue is full is dropped (2048)
	MetricInterval time.Duration // metrics are exported this often (5s)
	ExportTimeout  time.Duration // one export waits this long for the Collector (10s)
	RetryInitial   time.Duration // first wait before an export is retried (5s)
	RetryMax       time.Duration // longest wait between retries (30s)
	RetryElapsed   time.Duration // an export is given up after retrying this long (1m)
	// ReconnectMax is the longest wait between two attempts of the gRPC
	// exporters to connect (5s; gRPC's own default is 2m, so that after a
	// long outage the exporters could take two minutes to notice that the
	// Collector is back).
	ReconnectMax time.Duration
}

func (c exportConfig) orDefaults() exportConfig {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.BatchTimeout, 5*time.Second)
	def(&c.MetricInterval, 5*time.Second)
	def(&c.ExportTimeout, 10*time.Second)
	def(&c.RetryInitial, 5*time.Second)
	def(&c.RetryMax, 30*time.Second)
	def(&c.RetryElapsed, time.Minute)
	def(&c.ReconnectMax, 5*time.Second)
	if c.QueueSize <= 0 {
		c.QueueSize = sdktrace.DefaultMaxQueueSize
	}
	return c
}

// providers are the OpenTelemetry SDK's tracer and meter providers,
// exporting with OTLP.
type providers struct {
	tp *sdktrace.TracerProvider
	mp *sdkmetric.MeterProvider
}

// newProviders sets up the SDK. Spans go through a batch span processor
// and metrics through a periodic reader: both export on goroutines of
// their own, so a statement never waits for the Collector. A span ending
// while the batch queue is full is dropped, never waited for; metrics are
// cumulative, so what was counted while the Collector was down arrives
// with the first export that gets through.
func newProviders(ctx context.Context, cfg exportConfig) (*providers, error) {
	cfg = cfg.orDefaults()
	spans, metrics, err := newExporters(ctx, cfg)
	if err != nil {
		return nil, err
	}
	res := resource.NewSchemaless(attribute.String("service.name", serviceName))
	return &providers{
		tp: sdktrace.NewTracerProvider(sdktrace.WithResource(res),
			sdktrace.WithBatcher(spans, sdktrace.WithBatchTimeout(cfg.BatchTimeout), sdktrace.WithMaxQueueSize(cfg.QueueSize))),
		mp: sdkmetric.NewMeterProvider(sdkmetric.WithResource(res),
			sdkmetric.WithReader(sdkmetric.NewPeriodicReader(metrics,
				sdkmetric.WithInterval(cfg.MetricInterval), sdkmetric.WithTimeout(cfg.ExportTimeout)))),
	}, nil
}

// newExporters returns the OTLP span and metric exporters of cfg.Protocol.
// Neither connects before its first export.
func newExporters(ctx context.Context, cfg exportConfig) (sdktrace.SpanExporter, sdkmetric.Exporter, error) {
	switch cfg.Protocol {
	case "http", "":
		retry := otlptracehttp.RetryConfig{Enabled: true, InitialInterval: cfg.RetryInitial, MaxInterval: cfg.RetryMax, MaxElapsedTime: cfg.RetryElapsed}
		spans, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(cfg.Endpoint), otlptracehttp.WithInsecure(),
			otlptracehttp.WithTimeout(cfg.ExportTimeout), otlptracehttp.WithRetry(retry))
		if err != nil {
			return nil, nil, err
		}
		metrics, err := otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpoint(cfg.Endpoint), otlpmetrichttp.WithInsecure(),
			otlpmetrichttp.WithTimeout(cfg.ExportTimeout), otlpmetrichttp.WithRetry(otlpmetrichttp.RetryConfig(retry)))
		if err != nil {
			return nil, nil, err
		}
		return spans, metrics, nil
	case "grpc":
		retry := otlptracegrpc.RetryConfig{Enabled: true, InitialInterval: cfg.RetryInitial, MaxInterval: cfg.RetryMax, MaxElapsedTime: cfg.RetryElapsed}
		reconnect := grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: min(time.Second, cfg.ReconnectMax), Multiplier: 1.6, Jitter: 0.2, MaxDelay: cfg.ReconnectMax},
			MinConnectTimeout: cfg.ExportTimeout,
		})
		spans, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(cfg.Endpoint), otlptracegrpc.WithInsecure(),
			otlptracegrpc.WithTimeout(cfg.ExportTimeout), otlptracegrpc.WithRetry(retry), otlptracegrpc.WithDialOption(reconnect))
		if err != nil {
			return nil, nil, err
		}
		metrics, err := otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithEndpoint(cfg.Endpoint), otlpmetricgrpc.WithInsecure(),
			otlpmetricgrpc.WithTimeout(cfg.ExportTimeout), otlpmetricgrpc.WithRetry(otlpmetricgrpc.RetryConfig(retry)),
			otlpmetricgrpc.WithDialOption(reconnect))
		if err != nil {
			return nil, nil, err
		}
		return spans, metrics, nil
	}
	return nil, nil, fmt.Errorf("protocol %q: want http (OTLP/HTTP, usually port 4318) or grpc (OTLP/gRPC, usually port 4317)", cfg.Protocol)
}

// flush exports what is buffered now.
func (p *providers) flush(ctx context.Context) error {
	return errors.Join(p.tp.ForceFlush(ctx), p.mp.ForceFlush(ctx))
}

// shutdown exports what is still buffered and stops the exporters.
func (p *providers) shutdown(ctx context.Context) error {
	return errors.Join(p.tp.Shutdown(ctx), p.mp.Shutdown(ctx))
}
