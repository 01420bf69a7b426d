package peers

import (
	"context"
	"database/sql"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/quantumleap/qlsqlite/internal/trading"
)

// The microbenchmarks of issue 15, on the trading data: one statement per
// op unless the name says otherwise.

const (
	pointSelect = `SELECT quantity, average_cost FROM portfolio WHERE user_id = ? AND symbol = ?`
	rangeQuery  = `SELECT * FROM trades WHERE symbol = ? AND timestamp >= ? ORDER BY timestamp DESC LIMIT 20`
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
		if err := rows.Scan(&p[0], &p[1]); err != nil {
			b.Fatal(err)
		}
		ps = append(ps, p)
	}
	if len(ps) == 0 {
		b.Fatal("no positions")
	}
	return ps
}

func BenchmarkPointAdhoc(b *testing.B) {
	each(b, openTrading, func(b *testing.B, db *sql.DB) {
		ps := positions(b, db)
		ctx := context.Background()
		var qty, cost float64
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			p := ps[i%len(ps)]
			if err := db.QueryRowContext(ctx, pointSelect, p[0], p[1]).Scan(&qty, &cost); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkPointPrepared(b *testing.B) {
	each(b, openTrading, func(b *testing.B, db *sql.DB) {
		ps := positions(b, db)
		ctx := context.Background()
		stmt, err := db.PrepareContext(ctx, pointSelect)
		if err != nil {
			b.Fatal(err)
		}
		defer stmt.Close()
		var qty, cost float64
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			p := ps[i%len(ps)]
			if err := stmt.QueryRowContext(ctx, p[0], p[1]).Scan(&qty, &cost); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// scanRange reads the rows of a range query.
func scanRange(b *testing.B, rows *sql.Rows, err error, n *int) {
	if err != nil {
		b.Fatal(err)
	}
	var cols [9]any
	ptrs := make([]any, len(cols))
	for i := range cols {
		ptrs[i] = &cols[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			b.Fatal(err)
		}
		*n++
	}
	if err := rows.Close(); err != nil {
		b.Fatal(err)
	}
}

// rangeSince is where the range queries start: far enough back that the
// ten most popular symbols have 20 trades since.
var rangeSince = data.Now.Add(-10 * 24 * time.Hour).Format(trading.TimeLayout)

func BenchmarkRangeAdhoc(b *testing.B) {
	each(b, openTrading, func(b *testing.B, db *sql.DB) {
		ctx := context.Background()
		n := 0
		for i := 0; b.Loop(); i++ {
			rows, err := db.QueryContext(ctx, rangeQuery, trading.Symbol(i%10), rangeSince)
			scanRange(b, rows, err, &n)
		}
		b.ReportMetric(float64(n)/float64(b.N), "rows/op")
	})
}

func BenchmarkRangePrepared(b *testing.B) {
	each(b, openTrading, func(b *testing.B, db *sql.DB) {
		ctx := context.Background()
		stmt, err := db.PrepareContext(ctx, rangeQuery)
		if err != nil {
			b.Fatal(err)
		}
		defer stmt.Close()
		n := 0
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			rows, err := stmt.QueryContext(ctx, trading.Symbol(i%10), rangeSince)
			scanRange(b, rows, err, &n)
		}
		b.ReportMetric(float64(n)/float64(b.N), "rows/op")
	})
}

func tradeArgs(r *rand.Rand) []any {
	return []any{trading.UserID(r.IntN(data.Users)), trading.Symbol(r.IntN(data.Symbols)),
		float64(1 + r.IntN(100)), 100 * r.Float64(), "buy", "strat-1", r.IntN(50)}
}

func BenchmarkInsertAutocommit(b *testing.B) {
	each(b, openTrading, func(b *testing.B, db *sql.DB) {
		ctx := context.Background()
		r := rand.New(rand.NewPCG(1, 2))
		for b.Loop() {
			if _, err := db.ExecContext(ctx, insertTrade, tradeArgs(r)...); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkInsertTx is one INSERT of a transaction of 1000: per row.
func BenchmarkInsertTx(b *testing.B) {
	each(b, openTrading, func(b *testing.B, db *sql.DB) {
		ctx := context.Background()
		r := rand.New(rand.NewPCG(1, 2))
		var tx *sql.Tx
		for i := 0; b.Loop(); i++ {
			if tx == nil {
				var err error
				if tx, err = db.BeginTx(ctx, nil); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := tx.ExecContext(ctx, insertTrade, tradeArgs(r)...); err != nil {
				b.Fatal(err)
			}
			if i%1000 == 999 {
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
				tx = nil
			}
		}
		if tx != nil {
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkReaders16 is the ad-hoc point SELECT from 16 goroutines sharing
// the pool of MaxConns connections: wall time per SELECT.
func BenchmarkReaders16(b *testing.B) {
	each(b, openTrading, func(b *testing.B, db *sql.DB) {
		ps := positions(b, db)
		ctx := context.Background()
		b.SetParallelism(max(1, 16/procs()))
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			r := rand.New(rand.NewPCG(rand.Uint64(), 3))
			var qty, cost float64
			for pb.Next() {
				p := ps[r.IntN(len(ps))]
				if err := db.QueryRowContext(ctx, pointSelect, p[0], p[1]).Scan(&qty, &cost); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkTradingMix runs the platform's statement mix (internal/trading)
// from 16 goroutines: wall time per statement.
func BenchmarkTradingMix(b *testing.B) {
	each(b, openTrading, func(b *testing.B, db *sql.DB) {
		ctx := context.Background()
		b.SetParallelism(max(1, 16/procs()))
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			w := trading.NewWorker(data, rand.Uint64())
			for pb.Next() {
				if err := w.Run(ctx, db, w.Pick()); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
