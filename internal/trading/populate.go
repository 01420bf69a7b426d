package trading

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"time"
)

// Size says how many rows Populate writes.
type Size struct {
	Users   int // accounts; each holds a few portfolio positions
	Symbols int // instruments, traded with Zipf-like popularity
	Trades  int
	Orders  int // most closed (filled or cancelled), about 3% open
	Signals int
}

// Epoch returns the instant Populate's timestamps end at: rows span the 30
// days before it, oldest first, in the text format of CURRENT_TIMESTAMP.
func Epoch() time.Time { return time.Date(2025, 6, 30, 0, 0, 0, 0, time.UTC) }

// TimeFormat is the layout of the timestamps Populate writes (that of
// SQLite's CURRENT_TIMESTAMP).
const TimeFormat = "2006-01-02 15:04:05"

// Populate fills the tables of Schema (which must exist and be empty) with
// data shaped as the platform's: symbols drawn with Zipf-like popularity,
// timestamps increasing with rowid over 30 days, most orders closed and a
// small open set among the recent ones. The same seed gives the same rows.
func Populate(ctx context.Context, db *sql.DB, size Size, seed uint64) (err error) {
	if size.Users < 1 || size.Symbols < 1 {
		return fmt.Errorf("trading: populate needs at least one user and one symbol, got %+v", size)
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	zipf := rand.NewZipf(rng, 1.1, 1, uint64(size.Symbols-1))
	symbol := func() string { return fmt.Sprintf("SYM%03d", zipf.Uint64()) }
	user := func() string { return fmt.Sprintf("user-%05d", rng.IntN(size.Users)) }
	start := Epoch().Add(-30 * 24 * time.Hour)
	at := func(i, n int) string {
		return start.Add(time.Duration(float64(30*24*time.Hour) * float64(i) / float64(max(n, 1)))).Format(TimeFormat)
	}
	side := func() string { return [...]string{"buy", "sell"}[rng.IntN(2)] }
	strategy := func() string { return fmt.Sprintf("strat-%02d", rng.IntN(20)) }

	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("trading: populate: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	insert := func(query string, n int, args func(i int) []any) error {
		stmt, err := tx.PrepareContext(ctx, query)
		if err != nil {
			return fmt.Errorf("trading: populate: %w", err)
		}
		defer stmt.Close()
		for i := range n {
			if _, err := stmt.ExecContext(ctx, args(i)...); err != nil {
				return fmt.Errorf("trading: populate: %s: %w", query, err)
			}
		}
		return nil
	}

	steps := []struct {
		query string
		n     int
		args  func(i int) []any
	}{
		{`INSERT INTO users (id, name, created_at) VALUES (?, ?, ?)`, size.Users, func(i int) []any {
			return []any{fmt.Sprintf("user-%05d", i), fmt.Sprintf("User %d", i), at(i, size.Users)}
		}},
		{`INSERT OR IGNORE INTO portfolio (user_id, symbol, quantity, average_cost, last_updated) VALUES (?, ?, ?, ?, ?)`,
			size.Users * 4, func(i int) []any {
				return []any{fmt.Sprintf("user-%05d", i/4), symbol(), float64(1 + rng.IntN(500)), 10 + rng.Float64()*490, at(i, size.Users*4)}
			}},
		{`INSERT INTO trades (user_id, symbol, quantity, price, side, timestamp, strategy_id, execution_time_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			size.Trades, func(i int) []any {
				return []any{user(), symbol(), float64(1 + rng.IntN(100)), 10 + rng.Float64()*490, side(), at(i, size.Trades), strategy(), rng.IntN(50)}
			}},
		{`INSERT INTO orders (user_id, symbol, side, quantity, limit_price, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			size.Orders, func(i int) []any {
				status := "filled"
				switch r := rng.Float64(); {
				case float64(i) > 0.9*float64(size.Orders) && r < 0.3:
					status = "open" // the open set: recent orders only
				case r < 0.2:
					status = "cancelled"
				}
				return []any{user(), symbol(), side(), float64(1 + rng.IntN(100)), 10 + rng.Float64()*490, status, at(i, size.Orders)}
			}},
		{`INSERT INTO signals (symbol, strategy_id, confidence_score, direction, timestamp) VALUES (?, ?, ?, ?, ?)`,
			size.Signals, func(i int) []any {
				return []any{symbol(), strategy(), rng.Float64(), [...]string{"long", "short"}[rng.IntN(2)], at(i, size.Signals)}
			}},
	}
	for _, s := range steps {
		if err := insert(s.query, s.n, s.args); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("trading: populate: commit: %w", err)
	}
	return nil
}
