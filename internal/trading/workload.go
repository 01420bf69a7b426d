package trading

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// Kind is one kind of statement in the platform's traffic.
type Kind int

// The statement kinds, in the order of ../shared/trading/README.md.
const (
	RecentTrades Kind = iota // trades of a symbol since a time, newest 50
	Position                 // one user's position in one symbol
	OpenOrders               // the oldest 100 open orders
	Signals                  // strong recent signals
	InsertTrade              // an autocommit trade insert
	TradeTx                  // a trade and its portfolio upsert in one transaction
	UpdateOrder              // an order's status change
	numKinds
)

// Kinds lists every kind.
var Kinds = [numKinds]Kind{RecentTrades, Position, OpenOrders, Signals, InsertTrade, TradeTx, UpdateOrder}

// Share is each kind's share of the traffic, in percent.
var Share = [numKinds]int{35, 20, 15, 10, 12, 5, 3}

var kindNames = [numKinds]string{"recent trades", "position", "open orders", "signals", "insert trade", "trade + upsert tx", "update order"}

func (k Kind) String() string { return kindNames[k] }

// Writes reports whether statements of kind k write.
func (k Kind) Writes() bool { return k == InsertTrade || k == TradeTx || k == UpdateOrder }

// SQL holds the platform's typical statements, by kind; TradeTx runs
// the InsertTrade statement and then UpsertPortfolio.
var SQL = [numKinds]string{
	RecentTrades: `SELECT * FROM trades WHERE symbol = ? AND timestamp >= ? ORDER BY timestamp DESC LIMIT 50`,
	Position:     `SELECT quantity, average_cost FROM portfolio WHERE user_id = ? AND symbol = ?`,
	OpenOrders:   `SELECT id, symbol, quantity, limit_price FROM orders WHERE status = 'open' ORDER BY created_at LIMIT 100`,
	Signals:      `SELECT symbol, direction FROM signals WHERE confidence_score >= ? AND timestamp >= ?`,
	InsertTrade:  `INSERT INTO trades (user_id, symbol, quantity, price, side, strategy_id, execution_time_ms) VALUES (?,?,?,?,?,?,?)`,
	TradeTx:      UpsertPortfolio,
	UpdateOrder:  `UPDATE orders SET status = ? WHERE id = ?`,
}

// UpsertPortfolio folds a trade into the user's position.
const UpsertPortfolio = `INSERT INTO portfolio (user_id, symbol, quantity, average_cost) VALUES (?, ?, ?, ?)
ON CONFLICT(user_id, symbol) DO UPDATE SET
	average_cost = (portfolio.average_cost * portfolio.quantity + excluded.average_cost * excluded.quantity) / (portfolio.quantity + excluded.quantity),
	quantity = portfolio.quantity + excluded.quantity,
	last_updated = CURRENT_TIMESTAMP`

// A Statement is one of the platform's typical statements with its share of
// the traffic, in percent.
type Statement struct {
	Share int
	SQL   string
}

// Statements returns the platform's typical statements
// (../shared/trading/README.md), largest share first.
func Statements() []Statement {
	st := make([]Statement, 0, numKinds)
	for _, k := range Kinds {
		st = append(st, Statement{Share[k], SQL[k]})
	}
	slices.SortStableFunc(st, func(a, b Statement) int { return b.Share - a.Share })
	return st
}

// A Worker runs the mixed workload; use one per goroutine.
type Worker struct {
	d    Data
	r    *rand.Rand
	zipf *rand.Zipf
	cols [9]any // scratch for trades rows
}

// NewWorker returns a worker for data shaped like d, with its own random
// stream seeded by seed.
func NewWorker(d Data, seed uint64) *Worker {
	d = d.withDefaults()
	r := rand.New(rand.NewPCG(seed, d.Seed))
	return &Worker{d: d, r: r, zipf: rand.NewZipf(r, 1.2, 1, uint64(d.Symbols-1))}
}

// Pick draws a kind with the platform's shares.
func (w *Worker) Pick() Kind {
	x := w.r.IntN(100)
	for _, k := range Kinds {
		if x < Share[k] {
			return k
		}
		x -= Share[k]
	}
	return RecentTrades
}

// DB is what the workload runs on: a [*sql.DB], or a [*sql.Conn] held for
// a client's whole life.
type DB interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

var (
	_ DB = (*sql.DB)(nil)
	_ DB = (*sql.Conn)(nil)
)

// Run runs one statement of kind k and reads all its rows.
func (w *Worker) Run(ctx context.Context, db DB, k Kind) error {
	symIdx := int(w.zipf.Uint64())
	sym := Symbol(symIdx)
	user := UserID(w.r.IntN(w.d.Users))
	since := w.d.Now.Add(-time.Duration(1+w.r.IntN(48)) * time.Hour).Format(TimeLayout)
	switch k {
	case RecentTrades:
		return w.query(ctx, db, SQL[k], len(w.cols), sym, since)
	case Position:
		return w.query(ctx, db, SQL[k], 2, user, sym)
	case OpenOrders:
		return w.query(ctx, db, SQL[k], 4)
	case Signals:
		return w.query(ctx, db, SQL[k], 2, 0.9+w.r.Float64()/10, since)
	case InsertTrade:
		_, err := db.ExecContext(ctx, SQL[k], w.tradeArgs(user, symIdx)...)
		return err
	case TradeTx:
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		args := w.tradeArgs(user, symIdx)
		if _, err := tx.ExecContext(ctx, SQL[InsertTrade], args...); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, UpsertPortfolio, user, sym, args[2], args[3]); err != nil {
			return err
		}
		return tx.Commit()
	case UpdateOrder:
		status := "filled"
		if w.r.IntN(4) == 0 {
			status = "open"
		}
		_, err := db.ExecContext(ctx, SQL[k], status, 1+w.r.IntN(w.d.Orders))
		return err
	}
	return fmt.Errorf("trading: unknown statement kind %d", k)
}

// tradeArgs are the arguments of an InsertTrade of symbol s, priced as s
// trades.
func (w *Worker) tradeArgs(user string, s int) []any {
	return []any{user, Symbol(s), float64(1 + w.r.IntN(500)), price(s, w.r), side(w.r), fmt.Sprintf("strat-%d", w.r.IntN(20)), w.r.IntN(50)}
}

func (w *Worker) query(ctx context.Context, db DB, query string, ncols int, args ...any) error {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	dest := w.cols[:ncols]
	ptrs := make([]any, ncols)
	for i := range dest {
		ptrs[i] = &dest[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			rows.Close()
			return err
		}
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return err
	}
	return rows.Close()
}
