package main

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks, after every test of the package, that no goroutine is
// left behind: a closed database stops and waits for its background work.
// With QLSQLITE_RUN_MAIN=1 the test binary is the command itself, so that
// a test can run it as a process of its own.
func TestMain(m *testing.M) {
	if os.Getenv("QLSQLITE_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}
