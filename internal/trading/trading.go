// Package trading holds the trading platform's schema and workload, shared by
// the demo, the benchmarks and the tests.
package trading

import _ "embed"

// Schema is the platform's core schema as first specified, without secondary
// indexes (finding the right ones is the index advisor's job).
//
//go:embed schema.sql
var Schema string
