ALTER TABLE users ADD COLUMN tier TEXT NOT NULL DEFAULT 'retail';
UPDATE users SET tier = 'pro' WHERE id IN (SELECT user_id FROM trades GROUP BY user_id HAVING count(*) > 600);
