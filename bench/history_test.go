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
// system's. Its tickers deliver only while its gate is open: a database's
// background work (the monitor, the history) then runs while that
// database's own operations run, and is counted in its time.
type fastClock struct {
	start time.Time
	gate  *gate
}

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
				if !c.gate.wait(stop) {
					return
				}
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

// gate holds a clock's ticks while it is closed. A nil gate is always
// open.
type gate struct {
	mu   sync.Mutex
	open chan struct{} // closed while the gate is open
}

func newGate() *gate { return &gate{open: make(chan struct{})} }

// set opens or closes the gate.
func (g *gate) set(open bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
		if !open {
			g.open = make(chan struct{})
		}
	default:
		if open {
			close(g.open)
		}
	}
}

// wait waits for the gate to be open; false when stop came first.
func (g *gate) wait(stop <-chan struct{}) bool {
	if g == nil {
		return true
	}
	g.mu.Lock()
	open := g.open
	g.mu.Unlock()
	select {
	case <-open:
		return true
	case <-stop:
		return false
	}
}

// BenchmarkHistory measures what the statistics history costs the trading
// workload (the platform's mix, 16 goroutines). Two databases run side by
// side, one with the history and one without, on clocks 60 times faster
// than the system's (a history period a second; the monitor likewise in
// both); batches of 512 operations alternate between them, the first of
// each pair alternating too, so that both see the same drift of a shared
// machine. Each database's clock ticks only while its own batch runs, so
// its background work is counted in its own time. It reports each side's
// wall time and the process's CPU time per operation, and their ratios
// (history-on / history-off); ns/op is one round, a batch on each side.
func BenchmarkHistory(b *testing.B) {
	start := time.Now()
	gates := [2]*gate{newGate(), newGate()}
	defer gates[0].set(true) // the databases close with their tickers running
	defer gates[1].set(true)
	off := openObserved(b, "", []qlsqlite.Option{qlsqlite.WithClock(fastClock{start, gates[0]}), qlsqlite.WithSlowQueryLog(0), qlsqlite.WithoutHistory()})
	on := openObserved(b, "", []qlsqlite.Option{qlsqlite.WithClock(fastClock{start, gates[1]}), qlsqlite.WithSlowQueryLog(0),
		qlsqlite.WithHistory(filepath.Join(b.TempDir(), "bench-history.db"))})
	const batch = 512
	workers := [2][16]*trading.Worker{}
	for side := range workers {
		for g := range workers[side] {
			workers[side][g] = trading.NewWorker(data, uint64(g+1)) // the same operations on both sides
		}
	}
	ctx := context.Background()
	dbs := [2]*sql.DB{off, on}
	// run runs n operations on side's database with its clock's gate
	// open, and returns the wall and CPU time they took.
	run := func(side, n int) (wall, cpu time.Duration) {
		var next atomic.Int64
		var failed atomic.Value
		var wg sync.WaitGroup
		gates[side].set(true)
		defer gates[side].set(false)
		start, cpu0 := time.Now(), processCPU()
		for _, w := range workers[side] {
			wg.Go(func() {
				for next.Add(1) <= int64(n) {
					if err := w.Run(ctx, dbs[side], w.Pick()); err != nil {
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
		return time.Since(start), processCPU() - cpu0
	}
	for side := range dbs { // warm both: caches, statements, connections
		run(side, batch)
	}
	var wall, cpu [2]time.Duration
	ops := 0
	for i := 0; b.Loop(); i++ {
		for _, side := range [2][2]int{{0, 1}, {1, 0}}[i%2] {
			w, c := run(side, batch)
			wall[side] += w
			cpu[side] += c
		}
		ops += batch
	}
	b.StopTimer()
	b.ReportMetric(float64(wall[0].Nanoseconds())/float64(ops), "off-ns/op")
	b.ReportMetric(float64(wall[1].Nanoseconds())/float64(ops), "on-ns/op")
	b.ReportMetric(float64(wall[1])/float64(wall[0]), "on/off")
	b.ReportMetric(float64(cpu[0].Nanoseconds())/float64(ops), "off-cpu-ns/op")
	b.ReportMetric(float64(cpu[1].Nanoseconds())/float64(ops), "on-cpu-ns/op")
	b.ReportMetric(float64(cpu[1])/float64(cpu[0]), "cpu-on/off")
}
