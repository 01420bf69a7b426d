package qlsqlite

import (
	"context"
	"testing"
)

// BenchmarkObserverCall measures what the observer adds to one call of a
// statement the connection ran before, statistics on, spans and metrics
// off: finding the fingerprint's record and counting the call. It must not
// allocate.
func BenchmarkObserverCall(b *testing.B) {
	db := openStats(b, "?_trace=off&_metrics=off&_slow=0")
	ctx := context.Background()
	pinned, err := db.Conn(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer pinned.Close()
	var inner *sqliteConn
	d := db.Driver().(*Driver).db
	pinned.Raw(func(dc any) error {
		inner = sqliteConnOf(dc)
		return nil
	})
	o := d.obs.interceptor(&inner.connCore, nil).(*observer)
	queries := []string{
		`SELECT qty, cost FROM positions WHERE account = ? AND symbol = ?`,
		`INSERT INTO orders (account, symbol, qty) VALUES (?, ?, ?)`,
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		cctx, c := o.begin(ctx, queries[i&1])
		o.end(cctx, &c, 1, 2, nil)
	}
}
