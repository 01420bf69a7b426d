package conformance_test

import (
	"database/sql"
	"testing"
)

func TestErrors(t *testing.T) {
	conform(t, "constraints", func(o *observer, db *sql.DB) {
		_, err := db.Exec(`
			CREATE TABLE parent (id INTEGER PRIMARY KEY, code TEXT UNIQUE NOT NULL, qty INTEGER CHECK (qty >= 0));
			CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES parent(id));
			INSERT INTO parent VALUES (1, 'a', 1);
		`)
		o.must(err)
		_, err = db.Exec(`INSERT INTO parent (code, qty) VALUES (?, ?)`, "a", 1)
		o.seeErr("unique", err)
		_, err = db.Exec(`INSERT INTO parent (id, code, qty) VALUES (?, ?, ?)`, 1, "b", 1)
		o.seeErr("primary key", err)
		_, err = db.Exec(`INSERT INTO parent (code, qty) VALUES (?, ?)`, nil, 1)
		o.seeErr("not null", err)
		_, err = db.Exec(`INSERT INTO parent (code, qty) VALUES (?, ?)`, "c", -1)
		o.seeErr("check", err)
		_, err = db.Exec(`INSERT INTO child (parent_id) VALUES (?)`, 42)
		o.seeErr("foreign key", err)
		_, err = db.Exec(`INSERT INTO parent (code, qty) VALUES ('a', 1)`)
		o.seeErr("unique without args", err)
		var n int
		o.seeErr("count after failures", db.QueryRow(`SELECT count(*) FROM parent`).Scan(&n))
		o.see("parents: %d", n)
	})

	conform(t, "sql_errors", func(o *observer, db *sql.DB) {
		_, err := db.Exec(`SELEC 1`)
		o.seeErr("syntax exec", err)
		_, err = db.Query(`SELEC ?`, 1)
		o.seeErr("syntax query", err)
		_, err = db.Query(`SELECT * FROM missing WHERE id = ?`, 1)
		o.seeErr("no such table", err)
		_, err = db.Exec(`INSERT INTO missing VALUES (?)`, 1)
		o.seeErr("no such table exec", err)
		_, err = db.Prepare(`SELECT nope FROM sqlite_schema`)
		o.seeErr("no such column prepare", err)
		var x int
		err = db.QueryRow(`SELECT 1 WHERE 0`).Scan(&x)
		o.seeErr("no rows", err)
		o.see("is ErrNoRows: %v", err == sql.ErrNoRows)
	})

	conform(t, "multiple_statements", func(o *observer, db *sql.DB) {
		res, err := db.Exec(`
			CREATE TABLE s (a);
			INSERT INTO s VALUES (1);
			INSERT INTO s VALUES (2);
		`)
		o.seeResult("script", res, err)
		_, err = db.Exec(`INSERT INTO s VALUES (?); INSERT INTO s VALUES (?)`, 3, 4)
		o.seeErr("script with args", err)
		_, err = db.Query(`SELECT 1; SELECT 2`)
		o.seeErr("query with tail", err)
		_, err = db.Query(`SELECT ?; SELECT 2`, 1)
		o.seeErr("query with tail and args", err)
		_, err = db.Prepare(`SELECT 1; SELECT 2`)
		o.seeErr("prepare with tail", err)
		_, err = db.Exec(`INSERT INTO s VALUES (5); INSERT INTO nope VALUES (6); INSERT INTO s VALUES (7)`)
		o.seeErr("script failing midway", err)
		rows, err := db.Query(`SELECT a FROM s ORDER BY a`)
		o.seeRows("after scripts", rows, err)
		rows, err = db.Query(`SELECT a FROM s; `)
		o.seeRows("trailing semicolon", rows, err)
		rows, err = db.Query(`SELECT a FROM s -- trailing comment`)
		o.seeRows("trailing comment", rows, err)
	})
}
