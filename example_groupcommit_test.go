package qlsqlite_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sync"

	"github.com/quantumleap/qlsqlite"
)

// Concurrent autocommit inserts with group commit on: those that wait at
// the same time share one transaction and one fsync, and each caller still
// gets its own result.
func ExampleWithGroupCommit() {
	dir, err := os.MkdirTemp("", "qlsqlite-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := qlsqlite.Open("file:"+filepath.Join(dir, "trading.db"), qlsqlite.WithGroupCommit(true))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TABLE trades (id INTEGER PRIMARY KEY, symbol TEXT, quantity REAL)`); err != nil {
		log.Fatal(err)
	}

	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 25 {
				res, err := db.ExecContext(ctx, `INSERT INTO trades (symbol, quantity) VALUES (?, ?)`, "AAPL", w*100+i)
				if err != nil {
					log.Fatal(err)
				}
				id, _ := res.LastInsertId() // this insert's own id, grouped or not
				var q int
				if err := db.QueryRowContext(ctx, `SELECT quantity FROM trades WHERE id = ?`, id).Scan(&q); err != nil || q != w*100+i {
					log.Fatalf("row %d holds %d, want %d (%v)", id, q, w*100+i, err)
				}
			}
		})
	}
	wg.Wait()

	snap, err := qlsqlite.Stats(db)
	if err != nil {
		log.Fatal(err)
	}
	// How many inserts shared a commit depends on how many waited at
	// once: g.Groups counts the commits, g.MeanSize the inserts per commit
	// (BenchmarkGroupCommit measures them under load).
	g := snap.Database.GroupCommit
	fmt.Println("group commit on:", g.Enabled)
	fmt.Println("statements:", g.Statements)
	// Output:
	// group commit on: true
	// statements: 200
}
