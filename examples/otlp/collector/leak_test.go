package main

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks, after the tests, that no goroutine is left behind: the
// exporters, the telemetry providers and the in-process Collector are all
// shut down by the tests that start them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
