package conformance_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/ncruces/go-sqlite3"
	ncruces "github.com/ncruces/go-sqlite3/driver"
)

// TestSQLiteFeatures covers SQLite's own API reached through sql.Conn.Raw.
func TestSQLiteFeatures(t *testing.T) {
	ctx := context.Background()

	conform(t, "raw_backup", func(o *observer, db *sql.DB) {
		_, err := db.Exec(`CREATE TABLE b (n); INSERT INTO b VALUES (1), (2)`)
		o.must(err)
		dest := filepath.Join(o.t.TempDir(), "backup.db")
		c, err := db.Conn(ctx)
		o.must(err)
		defer c.Close()
		err = c.Raw(func(dc any) error {
			conn, ok := dc.(ncruces.Conn)
			o.see("implements driver.Conn: %v", ok)
			if !ok {
				return nil
			}
			return conn.Raw().Backup("main", dest)
		})
		o.seeErr("backup", err)
		copyDB, err := sql.Open(o.driver, "file:"+dest)
		o.must(err)
		defer copyDB.Close()
		rows, err := copyDB.Query(`SELECT n FROM b ORDER BY n`)
		o.seeRows("backup contents", rows, err)
	})

	conform(t, "raw_functions", func(o *observer, db *sql.DB) {
		c, err := db.Conn(ctx)
		o.must(err)
		defer c.Close()
		o.must(c.Raw(func(dc any) error {
			return dc.(ncruces.Conn).Raw().CreateFunction("twice", 1, sqlite3.DETERMINISTIC, func(ctx sqlite3.Context, arg ...sqlite3.Value) {
				ctx.ResultInt64(arg[0].Int64() * 2)
			})
		}))
		var n int64
		o.seeErr("call", c.QueryRowContext(ctx, `SELECT twice(?)`, 21).Scan(&n))
		o.see("twice(21) = %d", n)
	})

	conform(t, "raw_autocommit_and_changes", func(o *observer, db *sql.DB) {
		c, err := db.Conn(ctx)
		o.must(err)
		defer c.Close()
		_, err = c.ExecContext(ctx, `CREATE TABLE a (n); INSERT INTO a VALUES (1), (2), (3)`)
		o.must(err)
		_, err = c.ExecContext(ctx, `UPDATE a SET n = n + ?`, 1)
		o.must(err)
		o.must(c.Raw(func(dc any) error {
			raw := dc.(ncruces.Conn).Raw()
			o.see("autocommit %v changes %d", raw.GetAutocommit(), raw.Changes())
			return nil
		}))
	})
}
