package bench

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quantumleap/qlsqlite"
	"github.com/quantumleap/qlsqlite/internal/trading"
)

// historySpeed is how much faster than the system's the benchmark's clock
// runs: the history writes a period every real second instead of every
// minute, 60 times its real work, so that a run of a few seconds sees it.
const historySpeed = 60

// fastClock is a qlsqlite.Clock running historySpeed times faster than the
// system's.
type fastClock struct{ start time.Time }

func (c fastClock) Now() time.Time {
	return c.start.Add(time.Since(c.start) * historySpeed)
}

func (c fastClock) Ticker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(max(d/historySpeed, time.Millisecond))
	ch := make(chan time.Time)
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-t.C:
				select {
				case ch <- c.Now():
				case <-stop:
					return
				}
			case <-stop:
				return
			}
		}
	}()
	var once sync.Once
	return ch, func() { once.Do(func() { t.Stop(); close(stop) }) }
}

// BenchmarkHistory measures what the statistics history costs the trading
// workload (the platform's mix, 16 goroutines). Two databases run side by
// side, one with the history and one without, on the same fast clock (a
// period a second, 60 times the history's real rate; the monitor likewise
// in both); batches of 512 operations alternate between them, the first of
// each pair alternating too, so that both see the same drift of a shared
// machine. It reports each side's time per operation and their ratio
// (history-on / history-off); ns/op is the mean of both.
func BenchmarkHistory(b *testing.B) {
	clock := fastClock{start: time.Now()}
	off := openObserved(b, "", []qlsqlite.Option{qlsqlite.WithClock(clock), qlsqlite.WithSlowQueryLog(0), qlsqlite.WithoutHistory()})
	on := openObserved(b, "", []qlsqlite.Option{qlsqlite.WithClock(clock), qlsqlite.WithSlowQueryLog(0),
		qlsqlite.WithHistory(filepath.Join(b.TempDir(), "bench-history.db"))})
	const batch = 512
	workers := [2][16]*trading.Worker{}
	for side := range workers {
		for g := range workers[side] {
			workers[side][g] = trading.NewWorker(data, uint64(g+1)) // the same operations on both sides
		}
	}
	ctx := context.Background()
	run := func(db *sql.DB, ws *[16]*trading.Worker, n int) time.Duration {
		var next atomic.Int64
		var failed atomic.Value
		var wg sync.WaitGroup
		start := time.Now()
		for _, w := range ws {
			wg.Go(func() {
				for next.Add(1) <= int64(n) {
					if err := w.Run(ctx, db, w.Pick()); err != nil {
						failed.Store(err)
						return
					}
				}
			})
		}
		wg.Wait()
		if err, _ := failed.Load().(error); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	var tOff, tOn time.Duration
	ops := 0
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if i%2 == 0 {
			tOff += run(off, &workers[0], batch)
			tOn += run(on, &workers[1], batch)
		} else {
			tOn += run(on, &workers[1], batch)
			tOff += run(off, &workers[0], batch)
		}
		ops += batch
	}
	b.StopTimer()
	b.ReportMetric(float64(tOff.Nanoseconds())/float64(ops), "off-ns/op")
	b.ReportMetric(float64(tOn.Nanoseconds())/float64(ops), "on-ns/op")
	b.ReportMetric(float64(tOn)/float64(tOff), "on/off")
}
