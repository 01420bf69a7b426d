package bench

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quantumleap/qlsqlite"
)

// BenchmarkGroupCommit runs autocommit trade inserts from 1, 16 and 64
// goroutines sharing one *sql.DB, at synchronous=FULL, on the raw driver
// (driver=sqlite3), on qlsqlite with group commit on
// (driver=qlsqlite, "_group_commit=on") and on qlsqlite with it off
// (driver=qlsqlite-off), back to back: qlsqlite commits the inserts that
// wait at the same time in one transaction, one fsync for the group, each
// in a savepoint of its own. With one writer nobody waits, and the insert
// runs alone in autocommit, as without group commit. bench/ratio prints on
// against raw, and on and off against each other.
//
// Both drivers keep as many idle connections as there are writers (with
// database/sql's default of 2, the writers of a group, answered together,
// would close and reopen their connections). It reports the p99 latency of
// one insert beside the time per insert (whose inverse is the throughput)
// and the inserts that failed.
func BenchmarkGroupCommit(b *testing.B) {
	for _, writers := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			eachWith(b, groupConfigs, func(b *testing.B, db *sql.DB) {
				db.SetMaxIdleConns(writers + 2)
				insertFrom(b, db, writers)
			})
		})
	}
}

// insertFrom runs b.N autocommit trade inserts from writers goroutines and
// reports the p99 latency of one insert and the inserts that failed.
func insertFrom(b *testing.B, db *sql.DB, writers int) {
	ctx := context.Background()
	var next, failed atomic.Int64
	lat := make([][]time.Duration, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 11))
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				if _, err := db.ExecContext(ctx, insertTrade, tradeArgs(r)...); err != nil {
					failed.Add(1)
					continue
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(failed.Load()), "failed")
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	}
}

// A benchConfig is one sub-benchmark of eachWith: driver=<name>, the
// database/sql driver it opens and what it adds to the shared pragmas.
type benchConfig struct{ name, driver, params string }

// groupConfigs are BenchmarkGroupCommit's configurations, in the order of
// drivers (raw first unless QL_FIRST is set).
var groupConfigs = func() []benchConfig {
	c := []benchConfig{
		{"sqlite3", "sqlite3", ""},
		{qlsqlite.DriverName + "-off", qlsqlite.DriverName, "&_group_commit=off"},
		{qlsqlite.DriverName, qlsqlite.DriverName, "&_group_commit=on"},
	}
	if drivers[0] != "sqlite3" {
		slices.Reverse(c)
	}
	return c
}()

// eachWith is each over configs: one sub-benchmark each, on a database
// loaded alike, reporting the process's CPU time per operation as each does.
func eachWith(b *testing.B, configs []benchConfig, fn func(b *testing.B, db *sql.DB)) {
	for _, c := range configs {
		b.Run("driver="+c.name, func(b *testing.B) {
			dsn := "file:" + filepath.Join(b.TempDir(), "bench.db") + pragmas + c.params
			db, err := sql.Open(c.driver, dsn)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			load(b, db)
			b.ReportAllocs()
			b.ResetTimer()
			start := processCPU()
			fn(b, db)
			if cpu := processCPU() - start; cpu > 0 && b.N > 0 {
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
			}
		})
	}
}

// BenchmarkGroupCommitAlone measures what group commit costs a lone writer,
// without the fsync that hides it in BenchmarkGroupCommit: one goroutine of
// autocommit inserts on qlsqlite at synchronous=OFF, with group commit off
// and on (where each insert joins the queue, finds nobody, and runs alone).
// Compare with benchstat -col /group; with QL_FIRST set, "on" runs first.
func BenchmarkGroupCommitAlone(b *testing.B) {
	order := []string{"off", "on"}
	if os.Getenv("QL_FIRST") != "" {
		order = []string{"on", "off"}
	}
	for _, group := range order {
		b.Run("group="+group, func(b *testing.B) {
			dsn := "file:" + filepath.Join(b.TempDir(), "bench.db") +
				"?_pragma=busy_timeout(5000)&_pragma=journal_mode(wal)&_pragma=synchronous(off)&_pragma=foreign_keys(1)&_group_commit=" + group
			db, err := sql.Open(qlsqlite.DriverName, dsn)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			load(b, db)
			b.ReportAllocs()
			b.ResetTimer()
			insertFrom(b, db, 1)
		})
	}
}
