package advise

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks, after every test of the package, that no goroutine is
// left behind: a closed database stops and waits for its background work.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
