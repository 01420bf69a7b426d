package trading

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"time"
)

// TimeLayout is how the schema's DATETIME columns store time
// (SQLite's CURRENT_TIMESTAMP format); compare against strings in it.
const TimeLayout = "2006-01-02 15:04:05"

// Data sizes the synthetic data set. Zero fields take their defaults.
type Data struct {
	Users   int       // users, default 2000
	Symbols int       // symbols, default 500, popularity Zipf-like
	Trades  int       // trades, default 100_000
	Orders  int       // orders, default Trades/5; about 3% open, all recent
	Signals int       // signals, default Trades/10
	Days    int       // rows span the Days days before Now, default 30
	Seed    uint64    // random seed; the same seed and Now give the same rows
	Now     time.Time // the end of the time span, default time.Now()
}

func (d Data) withDefaults() Data {
	if d.Users <= 0 {
		d.Users = 2000
	}
	if d.Symbols <= 0 {
		d.Symbols = 500
	}
	if d.Trades < 0 {
		d.Trades = 0
	}
	if d.Orders <= 0 {
		d.Orders = max(d.Trades/5, 100)
	}
	if d.Signals <= 0 {
		d.Signals = max(d.Trades/10, 100)
	}
	if d.Days <= 0 {
		d.Days = 30
	}
	if d.Now.IsZero() {
		d.Now = time.Now().UTC()
	}
	return d
}

// Epoch is a fixed Now for data sets that must be the same on every run.
func Epoch() time.Time { return time.Date(2026, 6, 30, 0, 0, 0, 0, time.UTC) }

// Symbol returns the name of symbol i.
func Symbol(i int) string { return fmt.Sprintf("SYM%03d", i) }

// UserID returns the id of user i.
func UserID(i int) string { return fmt.Sprintf("user-%05d", i) }

// Load creates the schema on db and fills it with data shaped like the
// platform's: symbols drawn with Zipf-like popularity, timestamps increasing
// with rowid over the Days before Now (in [TimeLayout], as CURRENT_TIMESTAMP
// writes them), most orders closed and a small open set among the recent
// ones, and one portfolio position per (user, symbol) traded. It writes in
// batched transactions; progress, if not nil, is called with the rows
// written so far and the total.
func Load(ctx context.Context, db *sql.DB, d Data, progress func(done, total int)) error {
	if _, err := db.ExecContext(ctx, Schema); err != nil {
		return fmt.Errorf("trading: creating the schema: %w", err)
	}
	return Fill(ctx, db, d, progress)
}

// Fill is [Load] on a database that has the schema already, made by
// [Migrations] for instance; its tables must be empty.
func Fill(ctx context.Context, db *sql.DB, d Data, progress func(done, total int)) error {
	d = d.withDefaults()
	r := rand.New(rand.NewPCG(d.Seed, d.Seed^0x9e3779b97f4a7c15))
	zipf := rand.NewZipf(r, 1.2, 1, uint64(d.Symbols-1))
	span := time.Duration(d.Days) * 24 * time.Hour
	start := d.Now.Add(-span)
	// at returns the time of row i of n: evenly spread, oldest first.
	at := func(i, n int) string {
		return start.Add(time.Duration(float64(span) * float64(i) / float64(max(n, 1)))).Format(TimeLayout)
	}

	total := d.Users + d.Trades + d.Orders + d.Signals
	done := 0
	batches := []struct {
		n    int
		sql  string
		args func(i int) []any
	}{
		{d.Users, `INSERT INTO users (id, name, created_at) VALUES (?, ?, ?)`, func(i int) []any {
			return []any{UserID(i), fmt.Sprintf("Trader %d", i), at(i, d.Users)}
		}},
		{d.Trades, `INSERT INTO trades (user_id, symbol, quantity, price, side, timestamp, strategy_id, execution_time_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, func(i int) []any {
			sym := int(zipf.Uint64())
			return []any{UserID(r.IntN(d.Users)), Symbol(sym), float64(1 + r.IntN(500)), price(sym, r), side(r), at(i, d.Trades),
				fmt.Sprintf("strat-%d", r.IntN(20)), r.IntN(50)}
		}},
		{d.Orders, `INSERT INTO orders (user_id, symbol, side, quantity, limit_price, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`, func(i int) []any {
			sym := int(zipf.Uint64())
			status := "filled"
			switch x := r.IntN(100); {
			case i >= d.Orders*9/10 && x < 30:
				status = "open" // the open set: recent orders only
			case x < 10:
				status = "cancelled"
			}
			return []any{UserID(r.IntN(d.Users)), Symbol(sym), side(r), float64(1 + r.IntN(500)), price(sym, r), status, at(i, d.Orders)}
		}},
		{d.Signals, `INSERT INTO signals (symbol, strategy_id, confidence_score, direction, timestamp) VALUES (?, ?, ?, ?, ?)`, func(i int) []any {
			return []any{Symbol(int(zipf.Uint64())), fmt.Sprintf("strat-%d", r.IntN(20)), r.Float64(), [...]string{"long", "short"}[r.IntN(2)], at(i, d.Signals)}
		}},
	}
	const batch = 5000
	for _, b := range batches {
		for first := 0; first < b.n; first += batch {
			n := min(batch, b.n-first)
			if err := insertBatch(ctx, db, b.sql, n, func(i int) []any { return b.args(first + i) }); err != nil {
				return err
			}
			if done += n; progress != nil {
				progress(done, total)
			}
		}
	}
	_, err := db.ExecContext(ctx, `INSERT INTO portfolio (user_id, symbol, quantity, average_cost, last_updated)
		SELECT user_id, symbol, sum(quantity), avg(price), max(timestamp) FROM trades GROUP BY user_id, symbol`)
	if err != nil {
		return fmt.Errorf("trading: building portfolios: %w", err)
	}
	return nil
}

func insertBatch(ctx context.Context, db *sql.DB, query string, n int, args func(i int) []any) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("trading: loading data: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, query)
	if err != nil {
		return fmt.Errorf("trading: loading data: %w", err)
	}
	defer stmt.Close()
	for i := range n {
		if _, err := stmt.ExecContext(ctx, args(i)...); err != nil {
			return fmt.Errorf("trading: loading data: %s: %w", query, err)
		}
	}
	return tx.Commit()
}

func price(symbol int, r *rand.Rand) float64 {
	base := 10 + float64(symbol%97)*7.5
	return base * (0.95 + r.Float64()/10)
}

func side(r *rand.Rand) string {
	if r.IntN(2) == 0 {
		return "buy"
	}
	return "sell"
}
