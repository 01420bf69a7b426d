CREATE VIEW daily_volume AS
    SELECT symbol, date(timestamp) AS day, sum(quantity * price) AS notional, count(*) AS trades
    FROM trades GROUP BY symbol, date(timestamp);
