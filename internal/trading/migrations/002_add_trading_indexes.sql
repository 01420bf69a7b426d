-- The platform's index plan for its hot queries (see /shared/trading).
-- IF NOT EXISTS: qlsqlite's advisor proposes the first two under the same
-- names (the demo applies them before this migration runs), and a database
-- that has them already takes the migration as it is.

-- SELECT * FROM trades WHERE symbol = ? AND timestamp >= ? ORDER BY timestamp DESC LIMIT 50
CREATE INDEX IF NOT EXISTS idx_trades_symbol_timestamp ON trades(symbol, timestamp);

-- SELECT ... FROM orders WHERE status = 'open' ORDER BY created_at LIMIT 100
CREATE INDEX IF NOT EXISTS idx_orders_status_created_at ON orders(status, created_at);

-- SELECT symbol, direction FROM signals WHERE confidence_score >= ? AND timestamp >= ?
CREATE INDEX IF NOT EXISTS idx_signals_confidence_timestamp ON signals(confidence_score, timestamp);

-- portfolio(user_id, symbol) is already served by the table's
-- UNIQUE(user_id, symbol) constraint (its automatic index
-- sqlite_autoindex_portfolio_1), so no index is created for it here:
-- a second one would only slow every portfolio write down.
