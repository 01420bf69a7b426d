DROP TABLE qlsqlite_demo, signals, orders, portfolio, trades, users;
