package qlsqlite

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/quantumleap/qlsqlite/internal/page"
)

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkQueriesPage10k serves the queries page of a database with
// 10,000 fingerprints, each called in three minutes of its history:
// window=all from the live statistics; window=1h from the history's 30,000
// minute rows (cold: read for each page, as the first view after a period
// is written; warm: kept until the next period, as when the page is sorted
// again) and what happened since. It reports the CPU time per page besides
// the wall time, which a loaded machine stretches.
func BenchmarkQueriesPage10k(b *testing.B) {
	ctx := context.Background()
	clock := newFakeClock()
	db, err := Open("file:"+filepath.Join(b.TempDir(), "fp.db"), WithClock(clock), WithStatsMax(10000),
		WithHistory(filepath.Join(b.TempDir(), "fp-history.db")), WithSlowQueryLog(0))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT)`); err != nil {
		b.Fatal(err)
	}
	h := writer(b, db)
	for minute := range 3 {
		for i := range 10000 {
			var x int
			db.QueryRow(fmt.Sprintf(`SELECT a AS c%d FROM t WHERE a = ?`, i), minute).Scan(&x)
		}
		if err := h.flushNow(ctx, clock.advance(time.Minute)); err != nil {
			b.Fatal(err)
		}
	}
	src, err := newPageSource(ctx, db.Driver().(*Driver).db, db, handlerConfig{})
	if err != nil {
		b.Fatal(err)
	}
	handler := page.New(src, page.Options{})
	// The plans captured in the background, and the advice, are done
	// before the clock starts: the CPU time is the pages'.
	if _, err := CapturedPlans(ctx, db); err != nil {
		b.Fatal(err)
	}
	handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/queries", nil))
	waitAdvice(b, db)
	for _, c := range []struct {
		window string
		cold   bool // the history's rows read again for each page
	}{{"all", false}, {"1h", true}, {"1h", false}} {
		name := "window=" + c.window
		if c.cold {
			name += "/cold"
		}
		b.Run(name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/queries?sort=p95&window="+c.window, nil)
			rec := httptest.NewRecorder()
			handler.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK || rec.Body.Len() < 10000*300 {
				b.Fatalf("%d, %d bytes", rec.Code, rec.Body.Len())
			}
			cpu := cpuTime()
			b.ResetTimer()
			for b.Loop() {
				if c.cold {
					src.cacheMu.Lock()
					src.cache = nil
					src.cacheMu.Unlock()
				}
				rec := httptest.NewRecorder()
				handler.ServeHTTP(rec, req)
			}
			b.StopTimer()
			b.ReportMetric(float64((cpuTime()-cpu).Milliseconds())/float64(b.N), "cpu-ms/op")
		})
	}
}

// BenchmarkHistoryPeriod measures one period of the history: the snapshot,
// the deltas, and the write, for the trading workload's size of statistics
// (30 fingerprints) and for 5000 (the default bound), each called since the
// last period. The writer does this once a minute.
func BenchmarkHistoryPeriod(b *testing.B) {
	for _, n := range []int{30, 5000} {
		b.Run(fmt.Sprintf("fingerprints=%d", n), func(b *testing.B) {
			ctx := context.Background()
			clock := newFakeClock()
			db, err := Open("file:"+filepath.Join(b.TempDir(), "p.db"), WithClock(clock),
				WithHistory(filepath.Join(b.TempDir(), "p-history.db")), WithSlowQueryLog(0))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec(`CREATE TABLE t (a INTEGER PRIMARY KEY)`); err != nil {
				b.Fatal(err)
			}
			h := writer(b, db)
			run := func() {
				for i := range n {
					var x int
					db.QueryRow(fmt.Sprintf(`SELECT a AS c%d FROM t WHERE a = ?`, i), 1).Scan(&x)
				}
			}
			run()
			h.flushNow(ctx, clock.advance(time.Minute))
			var cpu time.Duration
			for b.Loop() {
				b.StopTimer()
				run() // every fingerprint is called in every period
				b.StartTimer()
				c := cpuTime()
				if err := h.flushNow(ctx, clock.advance(time.Minute)); err != nil {
					b.Fatal(err)
				}
				cpu += cpuTime() - c
			}
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
		})
	}
}
