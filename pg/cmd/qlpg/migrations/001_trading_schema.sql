-- The trading platform's core schema on PostgreSQL (no secondary indexes:
-- finding the right ones is the index advisor's job).
CREATE TABLE users (
    id text PRIMARY KEY,
    name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE trades (
    id bigserial PRIMARY KEY,
    user_id text NOT NULL REFERENCES users(id),
    symbol text NOT NULL,
    quantity float8 NOT NULL,
    price float8 NOT NULL,
    side text NOT NULL,
    "timestamp" timestamptz NOT NULL DEFAULT now(),
    strategy_id text,
    execution_time_ms int
);

CREATE TABLE portfolio (
    id bigserial PRIMARY KEY,
    user_id text NOT NULL REFERENCES users(id),
    symbol text NOT NULL,
    quantity float8 NOT NULL,
    average_cost float8 NOT NULL,
    last_updated timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, symbol)
);

CREATE TABLE orders (
    id bigserial PRIMARY KEY,
    user_id text NOT NULL REFERENCES users(id),
    symbol text NOT NULL,
    side text NOT NULL,
    quantity float8 NOT NULL,
    limit_price float8,
    status text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE signals (
    id bigserial PRIMARY KEY,
    symbol text NOT NULL,
    strategy_id text NOT NULL,
    confidence_score float8 NOT NULL,
    direction text NOT NULL,
    "timestamp" timestamptz NOT NULL DEFAULT now()
);

-- Marks the database as the demo's own: the demo drops only what it made.
CREATE TABLE qlsqlite_demo (created_at timestamptz NOT NULL DEFAULT now());
INSERT INTO qlsqlite_demo DEFAULT VALUES;
