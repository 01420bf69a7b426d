package lifecycle

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkArchive measures archival throughput on the trading schema: each
// iteration seeds 200,000 trades (not timed) and archives those older than a
// cutoff, 150,000 of them, into a new archive file. The source is opened
// like the platform opens it (WAL, synchronous=NORMAL); the archive is
// written with synchronous=FULL, as Archive always does. The rows/s metric
// is rows moved per second of archiving; rows/cpu-s divides by the CPU time
// the process used while archiving (all its threads, GC included), which
// other processes on a shared machine do not inflate.
func BenchmarkArchive(b *testing.B) {
	const seeded, moved = 200_000, 150_000
	for _, batch := range []int{DefaultBatchSize, 10_000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			var total int64
			var cpu time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				dir := b.TempDir()
				db := openDB(b, filepath.Join(dir, "src.db"))
				seedTrades(b, db, seeded)
				p := ArchivePolicy{Table: "trades", Where: "timestamp < ?", Args: []any{tradeTime(moved + 1)},
					DestPath: filepath.Join(dir, "archive.db"), BatchSize: batch}
				b.StartTimer()
				c0 := processCPU()
				rep, err := Archive(context.Background(), db, p)
				cpu += processCPU() - c0
				if err != nil {
					b.Fatal(err)
				}
				if rep.Moved != moved {
					b.Fatalf("moved %d rows, want %d", rep.Moved, moved)
				}
				total += rep.Moved
				b.StopTimer()
				db.Close()
			}
			b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "rows/s")
			if cpu > 0 {
				b.ReportMetric(float64(total)/cpu.Seconds(), "rows/cpu-s")
			}
		})
	}
}
