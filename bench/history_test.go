package bench

import (
	"context"
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
// workload (the platform's mix, 16 goroutines): obs=history-off, then
// obs=history-on, on the same fast clock (a period a second, 60 times the
// real rate, and the monitor likewise in both); bench/ratio prints
// history-on's time over history-off's.
func BenchmarkHistory(b *testing.B) {
	for _, c := range []struct {
		name string
		opt  func(dir string) qlsqlite.Option
	}{
		{"history-off", func(string) qlsqlite.Option { return qlsqlite.WithoutHistory() }},
		{"history-on", func(dir string) qlsqlite.Option { return qlsqlite.WithHistory(filepath.Join(dir, "bench-history.db")) }},
	} {
		b.Run("obs="+c.name, func(b *testing.B) {
			clock := fastClock{start: time.Now()}
			db := openObserved(b, "", []qlsqlite.Option{qlsqlite.WithClock(clock), qlsqlite.WithSlowQueryLog(0), c.opt(b.TempDir())})
			ctx := context.Background()
			var next atomic.Int64
			var failed atomic.Value
			var wg sync.WaitGroup
			b.ResetTimer()
			for g := range 16 {
				wg.Go(func() {
					w := trading.NewWorker(data, uint64(g+1))
					for next.Add(1) <= int64(b.N) {
						if err := w.Run(ctx, db, w.Pick()); err != nil {
							failed.Store(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			if err, _ := failed.Load().(error); err != nil {
				b.Fatal(err)
			}
		})
	}
}
