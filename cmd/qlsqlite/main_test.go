package main

import (
	"os"
	"testing"
)

// TestMain lets a test run the command as a process of its own: with
// QLSQLITE_TEST_MAIN set, the test binary is the qlsqlite command (see
// runCommand).
func TestMain(m *testing.M) {
	if os.Getenv("QLSQLITE_TEST_MAIN") != "" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}
