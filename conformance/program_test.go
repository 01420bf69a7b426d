package conformance_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/quantumleap/qlsqlite/internal/trading"
)

// program is an existing application: it knows nothing of qlsqlite, and its
// only input is the driver name it passes to sql.Open.
func program(ctx context.Context, driverName, path string) ([]string, error) {
	var out []string
	say := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }

	db, err := sql.Open(driverName, "file:"+path+"?_txlock=immediate")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, trading.Schema); err != nil {
		return nil, err
	}
	for i := range 5 {
		if _, err := db.ExecContext(ctx, `INSERT INTO users (id, name, created_at) VALUES (?, ?, ?)`,
			fmt.Sprintf("u%d", i), fmt.Sprintf("User %d", i), time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC)); err != nil {
			return nil, err
		}
	}
	insert, err := db.PrepareContext(ctx, `INSERT INTO trades (user_id, symbol, quantity, price, side, strategy_id, execution_time_ms) VALUES (?,?,?,?,?,?,?)`)
	if err != nil {
		return nil, err
	}
	defer insert.Close()
	symbols := []string{"AAPL", "MSFT", "NVDA"}
	for i := range 30 {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return nil, err
		}
		user, sym := fmt.Sprintf("u%d", i%5), symbols[i%3]
		qty, price := float64(i+1), 100+float64(i)/4
		res, err := tx.StmtContext(ctx, insert).ExecContext(ctx, user, sym, qty, price, "buy", nil, i)
		if err != nil {
			tx.Rollback()
			return nil, err
		}
		id, _ := res.LastInsertId()
		_, err = tx.ExecContext(ctx, `INSERT INTO portfolio (user_id, symbol, quantity, average_cost) VALUES (?, ?, ?, ?)
			ON CONFLICT(user_id, symbol) DO UPDATE SET
				average_cost = (portfolio.average_cost * portfolio.quantity + excluded.average_cost * excluded.quantity) / (portfolio.quantity + excluded.quantity),
				quantity = portfolio.quantity + excluded.quantity`, user, sym, qty, price)
		if err != nil {
			tx.Rollback()
			return nil, err
		}
		if err := tx.Commit(); err != nil {
			return nil, err
		}
		say("trade %d", id)
	}
	_, err = db.ExecContext(ctx, `INSERT INTO portfolio (user_id, symbol, quantity, average_cost) VALUES (?, ?, ?, ?)`, "u0", "AAPL", 1, 1)
	say("duplicate position: %v", err)
	_, err = db.ExecContext(ctx, `INSERT INTO trades (user_id, symbol, quantity, price, side) VALUES (?, ?, ?, ?, ?)`, "ghost", "AAPL", 1, 1, "buy")
	say("unknown user: %v", err)

	rows, err := db.QueryContext(ctx, `SELECT id, symbol, quantity, price FROM trades WHERE symbol = ? AND id >= ? ORDER BY id DESC LIMIT 5`, "NVDA", 3)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id int64
		var sym string
		var qty, price float64
		if err := rows.Scan(&id, &sym, &qty, &price); err != nil {
			return nil, err
		}
		say("recent %d %s %.2f @ %.4f", id, sym, qty, price)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	rows, err = db.QueryContext(ctx, `SELECT user_id, symbol, quantity, round(average_cost, 6) FROM portfolio ORDER BY user_id, symbol`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var user, sym string
		var qty, cost float64
		if err := rows.Scan(&user, &sym, &qty, &cost); err != nil {
			return nil, err
		}
		say("position %s %s %.0f @ %.6f", user, sym, qty, cost)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	var created time.Time
	if err := db.QueryRowContext(ctx, `SELECT created_at FROM users WHERE id = ?`, "u3").Scan(&created); err != nil {
		return nil, err
	}
	say("u3 created %v", created)
	return out, nil
}

func TestProgram(t *testing.T) {
	conform(t, "switch_driver_name_only", func(o *observer, _ *sql.DB) {
		lines, err := program(context.Background(), o.driver, filepath.Join(o.t.TempDir(), "app.db"))
		o.must(err)
		for _, l := range lines {
			o.see("%s", l)
		}
	})
}
