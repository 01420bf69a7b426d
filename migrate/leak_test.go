package migrate

import (
	"fmt"
	"os"
	"testing"

	_ "github.com/quantumleap/qlsqlite" // registers "qlsqlite"
	"go.uber.org/goleak"
)

// envDriver passes the driver under test to the child processes.
const envDriver = "QLSQLITE_MIGRATE_DRIVER"

// testDriver is the driver the tests open databases with. The suite runs
// twice: through qlsqlite, the way cmd/qlsqlite runs migrations (statement
// deadline, writer gate, statement cache, retries), and through the raw
// ncruces driver it wraps, since migrate needs only database/sql.
var testDriver = "qlsqlite"

// TestMain runs the suite once per driver, then checks that no goroutine
// is left behind.
func TestMain(m *testing.M) {
	if d := os.Getenv(envDriver); d != "" { // a child process of the locking tests
		testDriver = d
		os.Exit(m.Run())
	}
	for _, d := range []string{"qlsqlite", "sqlite3"} {
		testDriver = d
		os.Setenv(envDriver, d)
		if code := m.Run(); code != 0 {
			fmt.Fprintf(os.Stderr, "(the tests above ran on driver %q)\n", d)
			os.Exit(code)
		}
	}
	os.Unsetenv(envDriver)
	if err := goleak.Find(); err != nil {
		fmt.Fprintln(os.Stderr, "goroutines left behind:", err)
		os.Exit(1)
	}
}
