package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/yamlprovider"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"
)

// collector is an OpenTelemetry Collector running in the test's process,
// assembled from the Collector's own modules as a distribution's main
// would be: the OTLP receiver on two loopback ports, gRPC and HTTP, and
// one exporter, the sink, which keeps what the pipelines deliver.
type collector struct {
	col      *otelcol.Collector
	sink     *sink
	grpcAddr string // host:port of OTLP/gRPC
	httpAddr string // host:port of OTLP/HTTP
	done     chan error
}

// collectorConfig is the Collector's configuration: the OTLP receiver, the
// sink, a pipeline for traces and one for metrics, and no telemetry of the
// Collector's own (its default serves metrics on port 8888, which two
// Collectors on one machine would fight over).
const collectorConfig = `
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: %s
      http:
        endpoint: %s
exporters:
  sink: {}
service:
  telemetry:
    metrics:
      level: none
    logs:
      level: error
      disable_stacktrace: true
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [sink]
    metrics:
      receivers: [otlp]
      exporters: [sink]
`

// startCollector starts a Collector on free loopback ports and stops it
// when the test ends. A port taken between choosing it and the receiver's
// bind fails the start: it is tried again with new ports.
func startCollector(t *testing.T) *collector {
	t.Helper()
	var errs []error
	for range 5 {
		c, err := tryCollector(freePort(t), freePort(t))
		if err == nil {
			t.Cleanup(c.stop)
			return c
		}
		errs = append(errs, err)
	}
	t.Fatalf("starting a Collector: %v", errors.Join(errs...))
	return nil
}

func tryCollector(grpcAddr, httpAddr string) (*collector, error) {
	c := &collector{sink: &sink{}, grpcAddr: grpcAddr, httpAddr: httpAddr, done: make(chan error, 1)}
	col, err := otelcol.NewCollector(otelcol.CollectorSettings{
		BuildInfo: component.BuildInfo{Command: "qlsqlite-otlp-test", Description: "a Collector for examples/otlp's test", Version: "test"},
		Factories: c.factories,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{ResolverSettings: confmap.ResolverSettings{
			URIs:              []string{"yaml:" + fmt.Sprintf(collectorConfig, grpcAddr, httpAddr)},
			ProviderFactories: []confmap.ProviderFactory{yamlprovider.NewFactory()},
		}},
		DisableGracefulShutdown: true, // no signal handler: the test stops it
		SkipSettingGRPCLogger:   true, // no process-wide gRPC logger
	})
	if err != nil {
		return nil, err
	}
	c.col = col
	go func() { c.done <- col.Run(context.Background()) }()
	// Run returns at once when the start fails (a port taken), and only at
	// Shutdown otherwise.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for col.GetState() != otelcol.StateRunning {
		select {
		case err := <-c.done:
			return nil, fmt.Errorf("the Collector stopped while starting: %w", err)
		case <-deadline:
			col.Shutdown()
			return nil, fmt.Errorf("the Collector is not running after 30s: state %v", col.GetState())
		case <-tick.C:
		}
	}
	return c, nil
}

// factories are the Collector's components: what a distribution built
// with the Collector builder would list, plus the sink.
func (c *collector) factories() (otelcol.Factories, error) {
	receivers, err := otelcol.MakeFactoryMap[receiver.Factory](otlpreceiver.NewFactory())
	if err != nil {
		return otelcol.Factories{}, err
	}
	exporters, err := otelcol.MakeFactoryMap[exporter.Factory](c.sink.factory())
	if err != nil {
		return otelcol.Factories{}, err
	}
	return otelcol.Factories{Receivers: receivers, Exporters: exporters, Telemetry: otelconftelemetry.NewFactory()}, nil
}

// stop shuts the Collector down and waits for it.
func (c *collector) stop() {
	c.col.Shutdown()
	<-c.done
}

// endpoint is the receiver's address for protocol "http" or "grpc".
func (c *collector) endpoint(protocol string) string {
	if protocol == "grpc" {
		return c.grpcAddr
	}
	return c.httpAddr
}

// freePort returns a loopback address whose port was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// sink is an exporter, built with the Collector's exporterhelper, that
// keeps a copy of every batch of spans and metrics the pipelines hand it.
type sink struct {
	mu      sync.Mutex
	traces  []ptrace.Traces
	metrics []pmetric.Metrics
}

var sinkType = component.MustNewType("sink")

type sinkConfig struct{}

func (s *sink) factory() exporter.Factory {
	return exporter.NewFactory(sinkType, func() component.Config { return &sinkConfig{} },
		exporter.WithTraces(func(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Traces, error) {
			return exporterhelper.NewTraces(ctx, set, cfg, s.consumeTraces)
		}, component.StabilityLevelDevelopment),
		exporter.WithMetrics(func(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Metrics, error) {
			return exporterhelper.NewMetrics(ctx, set, cfg, s.consumeMetrics)
		}, component.StabilityLevelDevelopment))
}

func (s *sink) consumeTraces(_ context.Context, td ptrace.Traces) error {
	cp := ptrace.NewTraces()
	td.CopyTo(cp)
	s.mu.Lock()
	s.traces = append(s.traces, cp)
	s.mu.Unlock()
	return nil
}

func (s *sink) consumeMetrics(_ context.Context, md pmetric.Metrics) error {
	cp := pmetric.NewMetrics()
	md.CopyTo(cp)
	s.mu.Lock()
	s.metrics = append(s.metrics, cp)
	s.mu.Unlock()
	return nil
}

// gotSpan is a span as the Collector received it, flattened.
type gotSpan struct {
	Name, Scope          string
	Kind                 ptrace.SpanKind
	TraceID              pcommon.TraceID
	SpanID, Parent       pcommon.SpanID
	Start, End           pcommon.Timestamp
	Attrs                map[string]string
	Resource             map[string]string
	StatusCode           ptrace.StatusCode
	StatusMessage        string
	EventTexts, LinkText []string // every string of the span's events and links
}

// spans returns every span received so far.
func (s *sink) spans() []gotSpan {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []gotSpan
	for _, td := range s.traces {
		for _, rs := range td.ResourceSpans().All() {
			res := attrMap(rs.Resource().Attributes())
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					g := gotSpan{
						Name: sp.Name(), Scope: ss.Scope().Name(), Kind: sp.Kind(),
						TraceID: sp.TraceID(), SpanID: sp.SpanID(), Parent: sp.ParentSpanID(),
						Start: sp.StartTimestamp(), End: sp.EndTimestamp(),
						Attrs: attrMap(sp.Attributes()), Resource: res,
						StatusCode: sp.Status().Code(), StatusMessage: sp.Status().Message(),
					}
					for _, ev := range sp.Events().All() {
						g.EventTexts = append(g.EventTexts, ev.Name())
						g.EventTexts = append(g.EventTexts, mapTexts(ev.Attributes())...)
					}
					for _, l := range sp.Links().All() {
						g.LinkText = append(g.LinkText, l.TraceState().AsRaw())
						g.LinkText = append(g.LinkText, mapTexts(l.Attributes())...)
					}
					out = append(out, g)
				}
			}
		}
	}
	return out
}

// gotPoint is one data point of a metric as the Collector received it.
type gotPoint struct {
	Metric, Unit, Description, Scope string
	Type                             pmetric.MetricType
	Monotonic                        bool // sums only
	Temporality                      pmetric.AggregationTemporality
	Attrs                            map[string]string
	Int                              int64
	Count                            uint64    // histograms only
	Sum                              float64   // histograms only
	Bounds                           []float64 // histograms only
	Time                             pcommon.Timestamp
}

// latest returns the newest data point of each metric and attribute set
// received so far: the metrics are cumulative, so it holds every
// measurement since the program started.
func (s *sink) latest() map[string][]gotPoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	byKey := map[string]gotPoint{}
	for _, md := range s.metrics {
		for _, rm := range md.ResourceMetrics().All() {
			for _, sm := range rm.ScopeMetrics().All() {
				for _, m := range sm.Metrics().All() {
					for _, p := range points(m) {
						p.Scope = sm.Scope().Name()
						key := p.Metric + fmt.Sprint(sortedPairs(p.Attrs))
						if old, ok := byKey[key]; !ok || p.Time >= old.Time {
							byKey[key] = p
						}
					}
				}
			}
		}
	}
	out := map[string][]gotPoint{}
	for _, p := range byKey {
		out[p.Metric] = append(out[p.Metric], p)
	}
	return out
}

// metricTexts returns every string of every metric received so far: names,
// descriptions, units, attribute keys and values, resource attributes.
func (s *sink) metricTexts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, md := range s.metrics {
		for _, rm := range md.ResourceMetrics().All() {
			out = append(out, mapTexts(rm.Resource().Attributes())...)
			for _, sm := range rm.ScopeMetrics().All() {
				for _, m := range sm.Metrics().All() {
					out = append(out, m.Name(), m.Description(), m.Unit())
					for _, p := range points(m) {
						for k, v := range p.Attrs {
							out = append(out, k, v)
						}
					}
				}
			}
		}
	}
	return out
}

func points(m pmetric.Metric) []gotPoint {
	base := gotPoint{Metric: m.Name(), Unit: m.Unit(), Description: m.Description(), Type: m.Type()}
	var out []gotPoint
	switch m.Type() {
	case pmetric.MetricTypeSum:
		for _, dp := range m.Sum().DataPoints().All() {
			p := base
			p.Monotonic, p.Temporality = m.Sum().IsMonotonic(), m.Sum().AggregationTemporality()
			p.Attrs, p.Int, p.Time = attrMap(dp.Attributes()), dp.IntValue(), dp.Timestamp()
			out = append(out, p)
		}
	case pmetric.MetricTypeGauge:
		for _, dp := range m.Gauge().DataPoints().All() {
			p := base
			p.Attrs, p.Int, p.Time = attrMap(dp.Attributes()), dp.IntValue(), dp.Timestamp()
			out = append(out, p)
		}
	case pmetric.MetricTypeHistogram:
		for _, dp := range m.Histogram().DataPoints().All() {
			p := base
			p.Temporality = m.Histogram().AggregationTemporality()
			p.Attrs, p.Count, p.Sum, p.Time = attrMap(dp.Attributes()), dp.Count(), dp.Sum(), dp.Timestamp()
			p.Bounds = dp.ExplicitBounds().AsRaw()
			out = append(out, p)
		}
	default:
		out = append(out, base)
	}
	return out
}

func attrMap(m pcommon.Map) map[string]string {
	out := make(map[string]string, m.Len())
	for k, v := range m.All() {
		out[k] = v.AsString()
	}
	return out
}

// mapTexts returns the keys and values of m.
func mapTexts(m pcommon.Map) []string {
	var out []string
	for k, v := range m.All() {
		out = append(out, k, v.AsString())
	}
	return out
}

func sortedPairs(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}
