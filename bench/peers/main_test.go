package peers

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/quantumleap/qlsqlite/internal/trading"
	"go.uber.org/goleak"
)

// dir holds the databases of one run.
var dir string

func TestMain(m *testing.M) {
	// qlsqlite's slow-query log (100 ms) would write into the benchmarks'
	// result lines while a data set loads.
	slog.SetDefault(slog.New(slog.DiscardHandler))
	var err error
	if dir, err = os.MkdirTemp("", "peers"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines left behind:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// data is the trading data set of the microbenchmarks and the trading mix.
var data = trading.Data{Users: 1000, Symbols: 500, Trades: 20_000, Seed: 7,
	Now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}

// indexes is the platform's index plan, with the statistics PRAGMA optimize
// leaves (analysis_limit=400: no STAT4, whose range estimates would make
// a statement with a range parameter re-prepare at every new binding), and
// the WAL checkpointed, so that every driver starts from the same file.
const indexes = `
CREATE INDEX trades_symbol_timestamp ON trades (symbol, timestamp);
CREATE INDEX orders_status_created_at ON orders (status, created_at);
CREATE INDEX signals_confidence_timestamp ON signals (confidence_score, timestamp);
PRAGMA analysis_limit=400;
ANALYZE;
PRAGMA analysis_limit=0;
PRAGMA wal_checkpoint(TRUNCATE);`

var (
	templateOnce sync.Once
	templatePath string
	templateErr  error
)

// template returns a database file with the trading data, made once per
// run with the raw ncruces driver; each benchmark works on a copy.
func template() (string, error) {
	templateOnce.Do(func() {
		templatePath = filepath.Join(dir, "template.db")
		db, err := sql.Open("sqlite3", "file:"+templatePath+"?"+Pragmas)
		if err != nil {
			templateErr = err
			return
		}
		defer db.Close()
		ctx := context.Background()
		if templateErr = trading.Load(ctx, db, data, nil); templateErr != nil {
			return
		}
		_, templateErr = db.ExecContext(ctx, indexes)
	})
	return templatePath, templateErr
}

// copyFile copies the file at from to to.
func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

var seq int

// cpuTime is the CPU time the process used so far, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time per op since start, every goroutine's
// (background work included): on a shared machine whose load drifts, it
// moves less than the wall time, which also holds the time other
// processes had the CPU.
func reportCPU(b *testing.B, start time.Duration) {
	if b.N > 0 && start > 0 {
		b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
	}
}

// openTrading opens a copy of the trading database with d.
func openTrading(b *testing.B, d Driver) *sql.DB {
	b.Helper()
	src, err := template()
	if err != nil {
		b.Fatal(err)
	}
	seq++
	path := filepath.Join(dir, fmt.Sprintf("%s-%d.db", d.Name, seq))
	if err := copyFile(src, path); err != nil {
		b.Fatal(err)
	}
	return openPath(b, d, path)
}

// openEmpty opens a new, empty database with d.
func openEmpty(b *testing.B, d Driver) *sql.DB {
	b.Helper()
	seq++
	return openPath(b, d, filepath.Join(dir, fmt.Sprintf("%s-%d.db", d.Name, seq)))
}

func openPath(b *testing.B, d Driver, path string) *sql.DB {
	db, err := d.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		db.Close()
		for _, suffix := range []string{"", "-wal", "-shm"} {
			os.Remove(path + suffix)
		}
	})
	if err := db.Ping(); err != nil {
		b.Fatal(err)
	}
	return db
}

// each runs fn as a sub-benchmark per driver, named driver=NAME.
func each(b *testing.B, open func(*testing.B, Driver) *sql.DB, fn func(b *testing.B, db *sql.DB)) {
	for _, d := range Drivers() {
		b.Run("driver="+d.Name, func(b *testing.B) {
			db := open(b, d)
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cpuTime()
			fn(b, db)
			reportCPU(b, cpu)
		})
	}
}
