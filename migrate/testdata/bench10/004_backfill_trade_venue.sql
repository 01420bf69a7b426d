-- A data migration over every trade.
UPDATE trades SET venue = CASE id % 3 WHEN 0 THEN 'XNAS' WHEN 1 THEN 'XNYS' ELSE 'BATS' END;
