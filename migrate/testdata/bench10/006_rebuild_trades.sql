-- SQLite's 12-step table rebuild: make venue NOT NULL and add CHECK
-- constraints, which ALTER TABLE cannot do. trades has 1M rows and is
-- referenced by trade_fees with ON DELETE CASCADE.
CREATE TABLE trades_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL,
    symbol TEXT NOT NULL,
    quantity REAL NOT NULL CHECK (quantity > 0),
    price REAL NOT NULL CHECK (price > 0),
    side TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    timestamp DATETIME DEFAULT CURRENT_TIMESTAMP,
    strategy_id TEXT,
    execution_time_ms INTEGER,
    venue TEXT NOT NULL,
    FOREIGN KEY (user_id) REFERENCES users(id)
);
INSERT INTO trades_new (id, user_id, symbol, quantity, price, side, timestamp, strategy_id, execution_time_ms, venue)
    SELECT id, user_id, symbol, quantity, price, side, timestamp, strategy_id, execution_time_ms, venue FROM trades;
DROP TABLE trades;
ALTER TABLE trades_new RENAME TO trades;
CREATE INDEX idx_trades_symbol_timestamp ON trades(symbol, timestamp);
