package qlsqlite

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

// TestMain lets the test binary double as the child process of the
// crash and multi-process tests: with QLSQLITE_CHILD set, it runs that child
// instead of the tests.
func TestMain(m *testing.M) {
	if mode := os.Getenv("QLSQLITE_CHILD"); mode != "" {
		if err := runChild(mode, os.Getenv("QLSQLITE_DB")); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	// The slow-query log goes to slog's default logger; the tests that read
	// it give a logger of their own, and the rest keep their output clean.
	slog.SetDefault(slog.New(slog.DiscardHandler))
	// After every test, no goroutine is left: a closed database stops and
	// waits for its background work.
	goleak.VerifyTestMain(m)
}

// runChild is a process writing to the database at path:
//   - "insert-loop" inserts rows one autocommit statement at a time, forever,
//     printing each row's id once its commit returned;
//   - "insert-n" inserts QLSQLITE_N rows tagged QLSQLITE_TAG, then exits;
//   - "group-loop" is "insert-loop" from 16 goroutines with group commit on.
func runChild(mode, path string) error {
	dsn := "file:" + path
	if mode == "group-loop" {
		dsn += "?_group_commit=on"
	}
	db, err := sql.Open(DriverName, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS log (id INTEGER PRIMARY KEY, tag TEXT, payload BLOB)`); err != nil {
		return err
	}
	payload := make([]byte, 512)
	switch mode {
	case "insert-loop":
		out := bufio.NewWriter(os.Stdout)
		for {
			res, err := db.ExecContext(ctx, `INSERT INTO log (tag, payload) VALUES (?, ?)`, "loop", payload)
			if err != nil {
				return err
			}
			id, _ := res.LastInsertId()
			fmt.Fprintln(out, id)
			out.Flush() // reported only after the commit returned
		}
	case "group-loop":
		return groupLoop(ctx, db, payload)
	case "insert-n":
		n, err := strconv.Atoi(os.Getenv("QLSQLITE_N"))
		if err != nil {
			return err
		}
		for range n {
			if _, err := db.ExecContext(ctx, `INSERT INTO log (tag, payload) VALUES (?, ?)`, os.Getenv("QLSQLITE_TAG"), payload); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("unknown child mode %q", mode)
}

// groupLoop inserts rows from 16 goroutines at once, forever, printing each
// row's id once its commit returned, and "grouped" once a group of more
// than one statement committed (the parent checks that the kills hit
// groups, not lone writers).
func groupLoop(ctx context.Context, db *sql.DB, payload []byte) error {
	db.SetMaxIdleConns(16) // a group's callers, answered together, keep their connections
	group := db.Driver().(*Driver).db.group
	grouped := false
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	errs := make(chan error, 16)
	for range 16 {
		go func() {
			for {
				res, err := db.ExecContext(ctx, `INSERT INTO log (tag, payload) VALUES (?, ?)`, "group", payload)
				if err != nil {
					errs <- err
					return
				}
				id, _ := res.LastInsertId()
				mu.Lock()
				fmt.Fprintln(out, id)
				if !grouped && group.snapshot().MaxSize > 1 {
					grouped = true
					fmt.Fprintln(out, "grouped")
				}
				out.Flush() // reported only after the group's commit returned
				mu.Unlock()
			}
		}()
	}
	return <-errs
}
