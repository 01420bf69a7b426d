package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// TestCollectorPrintsWhatArrives runs the Collector with config.yaml, its
// ports and output moved by further configuration as --set would, and
// sends it a span over OTLP/HTTP: the debug exporter prints it.
func TestCollectorPrintsWhatArrives(t *testing.T) {
	out := filepath.Join(t.TempDir(), "debug.out")
	httpAddr := freePort(t)
	set := settings("file:config.yaml",
		"yaml:receivers::otlp::protocols::grpc::endpoint: "+freePort(t),
		"yaml:receivers::otlp::protocols::http::endpoint: "+httpAddr,
		"yaml:exporters::debug::output_paths: ["+out+"]")
	set.DisableGracefulShutdown, set.SkipSettingGRPCLogger = true, true
	col, err := otelcol.NewCollector(set)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- col.Run(context.Background()) }()
	defer func() {
		col.Shutdown()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpoint(httpAddr), otlptracehttp.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			t.Fatalf("the Collector stopped: %v", err)
		default:
		}
		if col.GetState() == otelcol.StateRunning {
			_, span := tp.Tracer("test").Start(context.Background(), "hello collector")
			span.End() // exported at once; an error (not listening yet) is retried below
		}
		b, _ := os.ReadFile(out)
		if strings.Contains(string(b), "Traces") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30s the debug exporter printed %q", b)
		}
		<-tick.C
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
