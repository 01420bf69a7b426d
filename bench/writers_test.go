package bench

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkWriters runs autocommit trade inserts from 16 and 64 goroutines
// sharing one *sql.DB: qlsqlite queues them on its writer gate, the raw
// driver leaves them to SQLite's busy handler. It reports the p99 latency of
// one insert beside the time per insert (whose inverse is the throughput),
// and the inserts that failed (the raw driver's give up with SQLITE_BUSY once
// the 5 s busy timeout passes; they count as operations all the same).
func BenchmarkWriters(b *testing.B) {
	for _, writers := range []int{16, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			each(b, func(b *testing.B, db *sql.DB) {
				ctx := context.Background()
				var next, failed atomic.Int64
				lat := make([][]time.Duration, writers)
				var wg sync.WaitGroup
				for w := range writers {
					wg.Go(func() {
						r := rand.New(rand.NewPCG(uint64(w), 9))
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
			})
		})
	}
}
