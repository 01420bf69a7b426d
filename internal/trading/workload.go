package trading

// A Statement is one of the platform's typical statements, with its share of
// the traffic in percent.
type Statement struct {
	Share int
	SQL   string
}

// Statements returns the platform's typical statements (see
// ../shared/trading/README.md), costliest share first. Each call returns a
// new slice.
func Statements() []Statement {
	return []Statement{
		{35, `SELECT * FROM trades WHERE symbol = ? AND timestamp >= ? ORDER BY timestamp DESC LIMIT 50`},
		{20, `SELECT quantity, average_cost FROM portfolio WHERE user_id = ? AND symbol = ?`},
		{15, `SELECT id, symbol, quantity, limit_price FROM orders WHERE status = 'open' ORDER BY created_at LIMIT 100`},
		{12, `INSERT INTO trades (user_id, symbol, quantity, price, side, strategy_id, execution_time_ms) VALUES (?,?,?,?,?,?,?)`},
		{10, `SELECT symbol, direction FROM signals WHERE confidence_score >= ? AND timestamp >= ?`},
		{5, `INSERT INTO portfolio (user_id, symbol, quantity, average_cost) VALUES (?, ?, ?, ?) ` +
			`ON CONFLICT(user_id, symbol) DO UPDATE SET ` +
			`average_cost = (average_cost * quantity + excluded.average_cost * excluded.quantity) / (quantity + excluded.quantity), ` +
			`quantity = quantity + excluded.quantity, last_updated = CURRENT_TIMESTAMP`},
		{3, `UPDATE orders SET status = ? WHERE id = ?`},
	}
}
