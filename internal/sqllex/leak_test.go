package sqllex_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks, after every test of the package, that no goroutine is
// left behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
