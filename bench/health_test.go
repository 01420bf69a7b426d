package bench

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/quantumleap/qlsqlite"
	"github.com/quantumleap/qlsqlite/internal/trading"
)

// healthSizes are the database sizes BenchmarkHealth compares.
var healthSizes = []struct {
	name  string
	bytes int64
}{{"100MB", 100e6}, {"1GB", 1e9}, {"5GB", 5e9}}

// bigData is the data set the large databases start from; their trades
// table then grows by copying its rows until the file has the size asked.
var bigData = trading.Data{Users: 2000, Symbols: 500, Trades: 100_000, Seed: 11,
	Now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}

// bigDir is where the large databases are built, once: building 5 GB takes
// minutes. Set QLSQLITE_BENCH_DIR to choose it; delete it to get the space
// back.
func bigDir(b *testing.B) string {
	dir := os.Getenv("QLSQLITE_BENCH_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "qlsqlite-bench-big")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	return dir
}

// bigDB returns the path of a trading database of about size bytes,
// building it the first time: the trading data with the platform's
// indexes, its trades copied over and over, in WAL mode and checkpointed.
func bigDB(b *testing.B, name string, size int64) string {
	b.Helper()
	path := filepath.Join(bigDir(b), "trading-"+name+".db")
	if _, err := os.Stat(path + ".built"); err == nil {
		return path
	}
	start := time.Now()
	os.Remove(path)
	db, err := sql.Open("sqlite3", "file:"+path+"?_pragma=journal_mode(off)&_pragma=synchronous(off)&_pragma=cache_size(-65536)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	if err := trading.Load(ctx, db, bigData, nil); err != nil {
		b.Fatal(err)
	}
	// Most of the rows are copied before the indexes exist (appending to
	// the table is sequential; CREATE INDEX sorts), the rest after.
	growTrades(b, db, size*3/4)
	if _, err := db.ExecContext(ctx, `
		CREATE INDEX idx_trades_symbol_timestamp ON trades (symbol, timestamp);
		CREATE INDEX idx_orders_status_created_at ON orders (status, created_at);
		CREATE INDEX idx_signals_confidence_timestamp ON signals (confidence_score, timestamp);`); err != nil {
		b.Fatal(err)
	}
	growTrades(b, db, size)
	if _, err := db.ExecContext(ctx, `PRAGMA analysis_limit=400; ANALYZE; PRAGMA journal_mode=WAL`); err != nil {
		b.Fatal(err)
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path+".built", nil, 0o644); err != nil {
		b.Fatal(err)
	}
	b.Logf("built %s in %v", path, time.Since(start).Round(time.Second))
	return path
}

// growTrades copies rows of the trades table until the database has size
// bytes.
func growTrades(b *testing.B, db *sql.DB, size int64) {
	ctx := context.Background()
	for {
		var pages, pageSize, trades int64
		if err := db.QueryRowContext(ctx, `SELECT (SELECT page_count FROM pragma_page_count), (SELECT page_size FROM pragma_page_size), (SELECT max(id) FROM trades)`).Scan(&pages, &pageSize, &trades); err != nil {
			b.Fatal(err)
		}
		have := pages * pageSize
		if have >= size {
			return
		}
		n := min(trades, (size-have)/(have/trades)+1)
		if _, err := db.ExecContext(ctx, `INSERT INTO trades (user_id, symbol, quantity, price, side, timestamp, strategy_id, execution_time_ms)
			SELECT user_id, symbol, quantity, price, side, timestamp, strategy_id, execution_time_ms FROM trades WHERE id <= ?`, n); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHealth measures qlsqlite.Health, what a probe calls every few
// seconds, on trading databases of 100 MB, 1 GB and 5 GB: its time must not
// depend on the size. CheckIntegrity, what Health used to run on every
// call, is measured beside it for comparison (run it with -benchtime 1x:
// one check of 5 GB takes a while).
//
//	go test -run '^$' -bench 'Health|CheckIntegrity' -benchtime 1x ./bench   # builds the files once
//	go test -run '^$' -bench 'Health' -count 5 ./bench
func BenchmarkHealth(b *testing.B) {
	for _, s := range healthSizes {
		b.Run("size="+s.name, func(b *testing.B) {
			db := openBig(b, s.name, s.bytes, "")
			ctx := context.Background()
			if _, err := qlsqlite.Health(ctx, db); err != nil { // opens the connection Health reads on
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				r, err := qlsqlite.Health(ctx, db)
				if err != nil || r.Status != qlsqlite.HealthOK {
					b.Fatalf("%v %s %v", err, r.Status, r.Problems)
				}
			}
		})
	}
}

// BenchmarkCheckIntegrity measures one integrity check of each database.
func BenchmarkCheckIntegrity(b *testing.B) {
	for _, s := range healthSizes {
		b.Run("size="+s.name, func(b *testing.B) {
			db := openBig(b, s.name, s.bytes, "")
			ctx := context.Background()
			b.ResetTimer()
			for b.Loop() {
				r, err := qlsqlite.CheckIntegrity(ctx, db)
				if err != nil || !r.OK() {
					b.Fatalf("%v %+v", err, r)
				}
			}
			fi, err := os.Stat(bigDB(b, s.name, s.bytes))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(fi.Size())/1e6/b.Elapsed().Seconds()*float64(b.N), "MB/s")
		})
	}
}

// openBig opens the database of the given size with qlsqlite.Open.
func openBig(b *testing.B, name string, size int64, params string) *sql.DB {
	b.Helper()
	path := bigDB(b, name, size)
	db, err := qlsqlite.Open("file:" + path + "?_optimize=off" + params)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// BenchmarkIntegrityUnderLoad runs the trading workload (16 goroutines, the
// platform's mix of reads and writes) on a copy of the 1 GB database, with
// the scheduled integrity check off, and on, checking back to back
// (_integrity_every=1s), and reports the workload's latency percentiles:
// what the scheduled check costs the application while it runs. Each run
// is loadOps operations: run it with -benchtime 1x.
//
//	go test -run '^$' -bench IntegrityUnderLoad -benchtime 1x -count 3 ./bench
func BenchmarkIntegrityUnderLoad(b *testing.B) {
	src := bigDB(b, "1GB", 1e9)
	for _, c := range []struct{ name, params string }{
		{"check=off", "&_integrity_every=0"},
		{"check=on", "&_integrity_every=1s"},
		// No check, but a read transaction held open all along: what the
		// check's snapshot alone costs the writers (the WAL cannot be
		// reset while it is open).
		{"snapshot=held", "&_integrity_every=0"},
	} {
		b.Run(c.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "load.db")
			if err := copyFile(src, path); err != nil {
				b.Fatal(err)
			}
			db, err := qlsqlite.Open("file:"+path+"?_optimize=off&_slow=0"+c.params, qlsqlite.WithMonitorInterval(100*time.Millisecond))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			checking := c.name == "check=on"
			if checking {
				waitForCheck(b, db) // from here on, checks run back to back
			}
			if c.name == "snapshot=held" {
				tx, err := db.BeginTx(context.Background(), &sql.TxOptions{ReadOnly: true})
				if err != nil {
					b.Fatal(err)
				}
				var n int
				if err := tx.QueryRow(`SELECT count(*) FROM users`).Scan(&n); err != nil {
					b.Fatal(err)
				}
				defer tx.Rollback()
			}
			walMax := watchWAL(db)
			b.ResetTimer()
			lat := runTrading(b, db, 16, loadOps*b.N)
			b.StopTimer()
			b.ReportMetric(float64(walMax())/1e6, "WAL-max-MB")
			if checking {
				snap, _ := qlsqlite.Stats(db)
				if snap.Integrity == nil || !snap.Integrity.OK() {
					b.Fatalf("integrity %+v", snap.Integrity)
				}
			}
			slices.Sort(lat)
			at := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000 }
			b.ReportMetric(at(0.50), "p50-ms")
			b.ReportMetric(at(0.95), "p95-ms")
			b.ReportMetric(at(0.99), "p99-ms")
		})
	}
}

// loadOps is the number of operations of one run of
// BenchmarkIntegrityUnderLoad: long enough to span a check of the 1 GB
// database.
const loadOps = 40_000

// waitForCheck waits until a scheduled integrity check has completed.
func waitForCheck(b *testing.B, db *sql.DB) {
	deadline := time.Now().Add(5 * time.Minute)
	for {
		snap, err := qlsqlite.Stats(db)
		if err != nil {
			b.Fatal(err)
		}
		if snap.Integrity != nil {
			return
		}
		if time.Now().After(deadline) {
			b.Fatal("no scheduled integrity check completed in 5 minutes")
		}
		time.Sleep(50 * time.Millisecond) // polling a background schedule, not synchronising a test
	}
}

// watchWAL samples the WAL's size every 250ms until the returned function
// is called, which returns the largest size seen.
func watchWAL(db *sql.DB) func() int64 {
	done := make(chan struct{})
	result := make(chan int64)
	go func() {
		var most int64
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				result <- most
				return
			case <-t.C:
				if snap, err := qlsqlite.Stats(db); err == nil {
					most = max(most, snap.Database.Storage.WALBytes)
				}
			}
		}
	}()
	return func() int64 {
		close(done)
		return <-result
	}
}

// runTrading runs ops operations of the trading mix from workers
// goroutines and returns each operation's latency.
func runTrading(b *testing.B, db *sql.DB, workers, ops int) []time.Duration {
	ctx := context.Background()
	lats := make([][]time.Duration, workers)
	var wg sync.WaitGroup
	var failed sync.Once
	var firstErr error
	for w := range workers {
		wg.Go(func() {
			wk := trading.NewWorker(bigData, uint64(w+1))
			for i := w; i < ops; i += workers {
				k := wk.Pick()
				start := time.Now()
				if err := wk.Run(ctx, db, k); err != nil {
					failed.Do(func() { firstErr = fmt.Errorf("%v: %w", k, err) })
					return
				}
				lats[w] = append(lats[w], time.Since(start))
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	return slices.Concat(lats...)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
