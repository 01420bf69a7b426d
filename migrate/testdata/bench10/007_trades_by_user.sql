CREATE INDEX idx_trades_user_timestamp ON trades(user_id, timestamp);
