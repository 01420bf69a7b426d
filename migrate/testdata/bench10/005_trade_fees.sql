-- A child table whose rows cascade from trades: the rebuild in 006 must keep them.
CREATE TABLE trade_fees (
    id INTEGER PRIMARY KEY,
    trade_id INTEGER NOT NULL REFERENCES trades(id) ON DELETE CASCADE,
    amount REAL NOT NULL
);
INSERT INTO trade_fees (trade_id, amount) SELECT id, price * quantity * 0.0005 FROM trades WHERE id % 10 = 0;
CREATE INDEX idx_trade_fees_trade_id ON trade_fees(trade_id);
