// Command collector is an OpenTelemetry Collector for trying examples/otlp
// without installing one: the OTLP receiver (gRPC on localhost:4317, HTTP
// on localhost:4318) and the debug exporter, which prints what arrives.
// It is built from the Collector's own modules, as a distribution made
// with the Collector builder is, and takes the Collector's flags:
//
//	go run ./collector                          # config.yaml beside this file
//	go run ./collector --config my-config.yaml
//
// --set changes one setting of the files given with --config (without
// --config, it replaces the whole configuration):
//
//	go run ./collector --config collector/config.yaml --set=exporters::debug::verbosity=detailed
package main

import (
	_ "embed"
	"log"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/confmap/provider/yamlprovider"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/debugexporter"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"
)

// defaultConfig is used unless --config names another.
//
//go:embed config.yaml
var defaultConfig string

func main() {
	if err := otelcol.NewCommand(settings("yaml:" + defaultConfig)).Execute(); err != nil {
		log.Fatal(err)
	}
}

// settings are the Collector's: its components, and its configuration
// read from uris ("yaml:...", a file, "env:VAR").
func settings(uris ...string) otelcol.CollectorSettings {
	return otelcol.CollectorSettings{
		BuildInfo: component.BuildInfo{Command: "collector", Description: "OpenTelemetry Collector for qlsqlite's OTLP example", Version: "example"},
		Factories: components,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{ResolverSettings: confmap.ResolverSettings{
			URIs:              uris,
			ProviderFactories: []confmap.ProviderFactory{envprovider.NewFactory(), fileprovider.NewFactory(), yamlprovider.NewFactory()},
		}},
	}
}

// components are the Collector's receivers and exporters.
func components() (otelcol.Factories, error) {
	receivers, err := otelcol.MakeFactoryMap[receiver.Factory](otlpreceiver.NewFactory())
	if err != nil {
		return otelcol.Factories{}, err
	}
	exporters, err := otelcol.MakeFactoryMap[exporter.Factory](debugexporter.NewFactory())
	if err != nil {
		return otelcol.Factories{}, err
	}
	return otelcol.Factories{Receivers: receivers, Exporters: exporters, Telemetry: otelconftelemetry.NewFactory()}, nil
}
