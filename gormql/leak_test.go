package gormql

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks, after the tests, that no goroutine is left behind: a
// gorm.DB over qlsqlite closed by its test leaves none of the driver's.
// GORM's own prepared-statement cache (PrepareStmt) starts an expiry
// goroutine that nothing stops, whatever the driver: it is ignored.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("gorm.io/gorm/internal/lru.NewLRU[...].func1"))
}
