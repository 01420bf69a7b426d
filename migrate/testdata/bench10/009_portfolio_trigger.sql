-- Keep the portfolio in step with each new trade.
CREATE TRIGGER trades_to_portfolio AFTER INSERT ON trades BEGIN
    INSERT INTO portfolio (user_id, symbol, quantity, average_cost)
    VALUES (NEW.user_id, NEW.symbol, CASE NEW.side WHEN 'buy' THEN NEW.quantity ELSE -NEW.quantity END, NEW.price)
    ON CONFLICT (user_id, symbol) DO UPDATE SET
        quantity = quantity + excluded.quantity,
        last_updated = CURRENT_TIMESTAMP;
END;
