package main

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain lets a test run the command as a process of its own: with
// QLSQLITE_RUN_MAIN=1, the test binary is the qlsqlite command (see
// runCommand). Otherwise it runs the tests and then checks that no
// goroutine is left behind: a closed database stops and waits for its
// background work.
func TestMain(m *testing.M) {
	if os.Getenv("QLSQLITE_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}
