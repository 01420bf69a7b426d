package conformance_test

import (
	"database/sql"
	"testing"

	"github.com/jmoiron/sqlx"
)

type trade struct {
	ID       int64   `db:"id"`
	UserID   string  `db:"user_id"`
	Symbol   string  `db:"symbol"`
	Quantity float64 `db:"quantity"`
	Price    float64 `db:"price"`
	Side     string  `db:"side"`
}

func TestSqlx(t *testing.T) {
	conform(t, "get_select_named_in", func(o *observer, db *sql.DB) {
		// sqlx picks its bind style by driver name; qlsqlite uses SQLite's "?".
		sqlx.BindDriver("qlsqlite", sqlx.QUESTION)
		x := sqlx.NewDb(db, o.driver)
		x.MustExec(`CREATE TABLE trades (id INTEGER PRIMARY KEY, user_id TEXT, symbol TEXT, quantity REAL, price REAL, side TEXT)`)
		for _, tr := range []trade{
			{UserID: "u1", Symbol: "AAPL", Quantity: 10, Price: 190.5, Side: "buy"},
			{UserID: "u2", Symbol: "MSFT", Quantity: 5, Price: 410, Side: "sell"},
			{UserID: "u1", Symbol: "NVDA", Quantity: 1, Price: 950.25, Side: "buy"},
		} {
			res, err := x.NamedExec(`INSERT INTO trades (user_id, symbol, quantity, price, side) VALUES (:user_id, :symbol, :quantity, :price, :side)`, tr)
			o.seeResult("named exec", res, err)
		}
		var one trade
		o.seeErr("get", x.Get(&one, `SELECT * FROM trades WHERE symbol = ?`, "MSFT"))
		o.see("got %+v", one)
		var all []trade
		o.seeErr("select", x.Select(&all, `SELECT * FROM trades WHERE user_id = ? ORDER BY id`, "u1"))
		o.see("selected %+v", all)
		q, args, err := sqlx.In(`SELECT * FROM trades WHERE symbol IN (?) ORDER BY id`, []string{"AAPL", "NVDA"})
		o.must(err)
		var in []trade
		o.seeErr("in", x.Select(&in, x.Rebind(q), args...))
		o.see("in %+v", in)
		rows, err := x.NamedQuery(`SELECT symbol FROM trades WHERE price > :min ORDER BY id`, map[string]any{"min": 200})
		o.must(err)
		for rows.Next() {
			var s string
			o.must(rows.Scan(&s))
			o.see("named query %s", s)
		}
		o.must(rows.Close())
		var missing trade
		o.seeErr("get missing", x.Get(&missing, `SELECT * FROM trades WHERE id = ?`, 99))
	})
}
