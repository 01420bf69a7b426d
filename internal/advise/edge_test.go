package advise

import (
	"context"
	"errors"
	"iter"
	"testing"

	"github.com/ncruces/go-sqlite3"
)

func TestEmptySchema(t *testing.T) {
	db := openDB(t, "")
	rep := analyzeT(t, db, Options{}, `SELECT 1`, `SELECT abs(?)`)
	if len(rep.Advice) != 0 || len(rep.Queries) != 2 || rep.Queries[0].Before.String() != "`--SCAN CONSTANT ROW" {
		t.Errorf("%s", describe(rep))
	}
}

func TestApplicationFunctions(t *testing.T) {
	db := itemsDB(t)
	db.SetMaxOpenConns(1)
	err := withRaw(context.Background(), db, func(c *sqlite3.Conn) error {
		return errors.Join(
			c.CreateFunction("bucket", 1, sqlite3.DETERMINISTIC|sqlite3.INNOCUOUS, func(ctx sqlite3.Context, arg ...sqlite3.Value) {
				ctx.ResultInt64(arg[0].Int64() / 10)
			}),
			c.CreateAggregateFunction("spread", 1, 0, func(ctx *sqlite3.Context, seq iter.Seq[[]sqlite3.Value]) {
				for range seq {
				}
				ctx.ResultInt(0)
			}),
		)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE INDEX items_bucket ON items (bucket(c))`); err != nil {
		t.Fatal(err)
	}
	rep := analyzeT(t, db, Options{CoveringColumns: -1},
		`SELECT spread(d) FROM items WHERE bucket(a) = ? AND b = ?`,
		`SELECT * FROM items WHERE bucket(c) = ?`)
	if adviceOn(rep, "items", "b") == nil || len(rep.Advice) != 1 {
		t.Fatalf("want items(b) only (items_bucket serves the second):\n%s", describe(rep))
	}
	if got := rep.Queries[1].After.Indexes(); len(got) != 1 || got[0] != "items_bucket" {
		t.Errorf("expression index: %v\n%s", got, describe(rep))
	}
}
