package bench

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/ncruces/go-sqlite3/driver"
	"github.com/quantumleap/qlsqlite"
	"github.com/quantumleap/qlsqlite/internal/trading"
)

// pragmas are set identically on both drivers. With a _pragma in the DSN,
// qlsqlite adds none of its production defaults.
const pragmas = "?_pragma=busy_timeout(5000)&_pragma=journal_mode(wal)&_pragma=synchronous(full)&_pragma=foreign_keys(1)"

// drivers are the drivers compared, the raw one first unless QL_FIRST is
// set (bench/run.sh alternates, so that neither always runs second).
var drivers = func() []string {
	if os.Getenv("QL_FIRST") != "" {
		return []string{qlsqlite.DriverName, "sqlite3"}
	}
	return []string{"sqlite3", qlsqlite.DriverName}
}()

// data is the data set every benchmark database holds.
var data = trading.Data{Users: 1000, Symbols: 500, Trades: 20_000, Seed: 7,
	Now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}

// indexes is the platform's index plan, with statistics as PRAGMA optimize
// leaves them (analysis_limit=400: sqlite_stat1, no sqlite_stat4). With a
// full ANALYZE, STAT4 makes SQLite re-prepare a statement with a range
// parameter (timestamp >= ?) whenever its binding changes, so that the range
// query would measure SQLite's parser, not the drivers. The WAL is then
// checkpointed, so that both drivers' databases start alike.
const indexes = `
CREATE INDEX trades_symbol_timestamp ON trades (symbol, timestamp);
CREATE INDEX orders_status_created_at ON orders (status, created_at);
CREATE INDEX signals_confidence_timestamp ON signals (confidence_score, timestamp);
PRAGMA analysis_limit=400;
ANALYZE;
PRAGMA analysis_limit=0;
PRAGMA wal_checkpoint(TRUNCATE);`

// open returns a database on driverName with the trading data loaded.
func open(b *testing.B, driverName string) *sql.DB {
	b.Helper()
	db, err := sql.Open(driverName, "file:"+filepath.Join(b.TempDir(), "bench.db")+pragmas)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	load(b, db)
	return db
}

// load loads the trading data and the index plan into db.
func load(b *testing.B, db *sql.DB) {
	b.Helper()
	ctx := context.Background()
	if err := trading.Load(ctx, db, data, nil); err != nil {
		b.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, indexes); err != nil {
		b.Fatal(err)
	}
}

// each runs fn as a sub-benchmark per driver. Besides the wall-clock
// time, it reports the process's CPU time per operation (cpu-ns/op), which
// varies less on a machine shared with other work.
func each(b *testing.B, fn func(b *testing.B, db *sql.DB)) {
	for _, d := range drivers {
		b.Run("driver="+d, func(b *testing.B) {
			db := open(b, d)
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

const (
	pointSelect = `SELECT quantity, average_cost FROM portfolio WHERE user_id = ? AND symbol = ?`
	rangeQuery  = `SELECT * FROM trades WHERE symbol = ? AND timestamp >= ? ORDER BY timestamp DESC LIMIT 50`
	insertTrade = `INSERT INTO trades (user_id, symbol, quantity, price, side, strategy_id, execution_time_ms) VALUES (?,?,?,?,?,?,?)`
)

// positions returns (user, symbol) pairs that exist in the portfolio.
func positions(b *testing.B, db *sql.DB) [][2]string {
	rows, err := db.Query(`SELECT user_id, symbol FROM portfolio ORDER BY id LIMIT 1000`)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	var ps [][2]string
	for rows.Next() {
		var p [2]string
		rows.Scan(&p[0], &p[1])
		ps = append(ps, p)
	}
	return ps
}

func BenchmarkPointSelect(b *testing.B) {
	each(b, func(b *testing.B, db *sql.DB) {
		ps := positions(b, db)
		ctx := context.Background()
		var qty, cost float64
		for i := 0; b.Loop(); i++ {
			p := ps[i%len(ps)]
			if err := db.QueryRowContext(ctx, pointSelect, p[0], p[1]).Scan(&qty, &cost); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkPointSelectPrepared(b *testing.B) {
	each(b, func(b *testing.B, db *sql.DB) {
		ps := positions(b, db)
		ctx := context.Background()
		stmt, err := db.PrepareContext(ctx, pointSelect)
		if err != nil {
			b.Fatal(err)
		}
		defer stmt.Close()
		var qty, cost float64
		for i := 0; b.Loop(); i++ {
			p := ps[i%len(ps)]
			if err := stmt.QueryRowContext(ctx, p[0], p[1]).Scan(&qty, &cost); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRangeQuery reads a popular symbol's trades of the last hour,
// newest first, through the (symbol, timestamp) index.
func BenchmarkRangeQuery(b *testing.B) {
	each(b, func(b *testing.B, db *sql.DB) {
		ctx := context.Background()
		since := data.Now.Add(-time.Hour).Format(trading.TimeLayout)
		var cols [9]any
		ptrs := make([]any, len(cols))
		for i := range cols {
			ptrs[i] = &cols[i]
		}
		rows := 0
		for i := 0; b.Loop(); i++ {
			r, err := db.QueryContext(ctx, rangeQuery, trading.Symbol(i%10), since)
			if err != nil {
				b.Fatal(err)
			}
			for r.Next() {
				r.Scan(ptrs...)
				rows++
			}
			if err := r.Close(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(rows)/float64(b.N), "rows/op")
	})
}

func tradeArgs(r *rand.Rand) []any {
	return []any{trading.UserID(r.IntN(data.Users)), trading.Symbol(r.IntN(data.Symbols)),
		float64(1 + r.IntN(100)), 100 * r.Float64(), "buy", "strat-1", r.IntN(50)}
}

func BenchmarkInsertAutocommit(b *testing.B) {
	each(b, func(b *testing.B, db *sql.DB) {
		ctx := context.Background()
		r := rand.New(rand.NewPCG(1, 2))
		for b.Loop() {
			if _, err := db.ExecContext(ctx, insertTrade, tradeArgs(r)...); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkInsertTx1000 runs 1000 INSERTs in one transaction per op.
func BenchmarkInsertTx1000(b *testing.B) {
	each(b, func(b *testing.B, db *sql.DB) {
		ctx := context.Background()
		r := rand.New(rand.NewPCG(1, 2))
		for b.Loop() {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			for range 1000 {
				if _, err := tx.ExecContext(ctx, insertTrade, tradeArgs(r)...); err != nil {
					b.Fatal(err)
				}
			}
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkTxRead reads two positions in one transaction per op (BEGIN,
// two point SELECTs, COMMIT): the cost of a transaction that writes
// nothing, so that no fsync hides what BEGIN and COMMIT cost the driver.
func BenchmarkTxRead(b *testing.B) {
	each(b, func(b *testing.B, db *sql.DB) {
		ctx := context.Background()
		ps := positions(b, db)
		var qty, cost float64
		i := 0
		for b.Loop() {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			for _, p := range [][2]string{ps[i%len(ps)], ps[(i+1)%len(ps)]} {
				if err := tx.QueryRowContext(ctx, pointSelect, p[0], p[1]).Scan(&qty, &cost); err != nil {
					b.Fatal(err)
				}
			}
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkTransfer moves quantity between two positions in one
// transaction per op (BEGIN, two UPDATEs, COMMIT with its fsync).
func BenchmarkTransfer(b *testing.B) {
	each(b, func(b *testing.B, db *sql.DB) {
		ctx := context.Background()
		ps := positions(b, db)
		const move = `UPDATE portfolio SET quantity = quantity + ? WHERE user_id = ? AND symbol = ?`
		i := 0
		for b.Loop() {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			from, to := ps[i%len(ps)], ps[(i+1)%len(ps)]
			if _, err := tx.ExecContext(ctx, move, -1, from[0], from[1]); err != nil {
				b.Fatal(err)
			}
			if _, err := tx.ExecContext(ctx, move, 1, to[0], to[1]); err != nil {
				b.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkMixed runs 80% reads (point selects and range queries) and 20%
// autocommit inserts from a fixed number of goroutines sharing one *sql.DB.
func BenchmarkMixed(b *testing.B) {
	for _, g := range []int{2, 16, 64} {
		b.Run(fmt.Sprintf("goroutines=%d", g), func(b *testing.B) {
			each(b, func(b *testing.B, db *sql.DB) {
				ps := positions(b, db)
				since := data.Now.Add(-time.Hour).Format(trading.TimeLayout)
				ctx := context.Background()
				var next atomic.Int64
				var wg sync.WaitGroup
				var failed atomic.Value
				for w := range g {
					wg.Go(func() {
						r := rand.New(rand.NewPCG(uint64(w), 3))
						var qty, cost float64
						for {
							i := int(next.Add(1))
							if i > b.N {
								return
							}
							var err error
							switch x := r.IntN(10); {
							case x < 5:
								p := ps[i%len(ps)]
								err = db.QueryRowContext(ctx, pointSelect, p[0], p[1]).Scan(&qty, &cost)
							case x < 8:
								var rows *sql.Rows
								if rows, err = db.QueryContext(ctx, rangeQuery, trading.Symbol(i%10), since); err == nil {
									for rows.Next() {
									}
									err = rows.Close()
								}
							default:
								_, err = db.ExecContext(ctx, insertTrade, tradeArgs(r)...)
							}
							if err != nil {
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
			})
		})
	}
}
