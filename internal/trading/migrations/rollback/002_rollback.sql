-- Rolls back 002_add_trading_indexes.sql.
DROP INDEX idx_trades_symbol_timestamp;
DROP INDEX idx_orders_status_created_at;
DROP INDEX idx_signals_confidence_timestamp;
