package lifecycle_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	_ "github.com/ncruces/go-sqlite3/driver"

	"github.com/quantumleap/qlsqlite/internal/trading"
	"github.com/quantumleap/qlsqlite/lifecycle"
)

// openTrading creates a trading database in dir with three trades from 2024
// and two from today.
func openTrading(dir string) *sql.DB {
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "trading.db")+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(wal)")
	if err != nil {
		log.Fatal(err)
	}
	_, err = db.Exec(trading.Schema + `
		INSERT INTO users (id, name) VALUES ('u1', 'Ada');
		INSERT INTO trades (user_id, symbol, quantity, price, side, timestamp) VALUES
			('u1', 'AAPL', 10, 190.5, 'buy',  '2024-03-01 14:30:00'),
			('u1', 'MSFT',  5, 410.0, 'buy',  '2024-06-12 09:45:10'),
			('u1', 'AAPL', 10, 201.2, 'sell', '2024-11-20 15:59:59');
		INSERT INTO trades (user_id, symbol, quantity, price, side) VALUES
			('u1', 'NVDA', 2, 130.0, 'buy'),
			('u1', 'NVDA', 2, 135.5, 'sell');`)
	if err != nil {
		log.Fatal(err)
	}
	return db
}

// Archive the trades older than a cutoff into a separate file, then take an
// online backup of the trading database and verify it: what the demo does
// at the end of a trading day.
func ExampleArchive() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "lifecycle")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db := openTrading(dir)
	defer db.Close()

	// trades.timestamp holds SQLite's text format (CURRENT_TIMESTAMP), so
	// the cutoff is given in that format, in UTC.
	cutoff := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	rep, err := lifecycle.Archive(ctx, db, lifecycle.ArchivePolicy{
		Table:    "trades",
		Where:    "timestamp < ?",
		Args:     []any{cutoff.Format(time.DateTime)},
		DestPath: filepath.Join(dir, "trades-2024.db"),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("archived %d trades\n", rep.Moved)

	var left int
	db.QueryRow(`SELECT count(*) FROM trades`).Scan(&left)
	fmt.Printf("%d recent trades stay\n", left)

	backup := filepath.Join(dir, "trading-backup.db")
	if err := lifecycle.Backup(ctx, db, backup); err != nil {
		log.Fatal(err)
	}
	if err := lifecycle.Verify(ctx, backup); err != nil {
		log.Fatal(err)
	}
	fmt.Println("backup verified")
	// Output:
	// archived 3 trades
	// 2 recent trades stay
	// backup verified
}

// Delete the signals older than 30 days, a thousand rows per transaction.
func ExamplePurge() {
	dir, err := os.MkdirTemp("", "lifecycle")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db := openTrading(dir)
	defer db.Close()
	_, err = db.Exec(`INSERT INTO signals (symbol, strategy_id, confidence_score, direction, timestamp) VALUES
		('AAPL', 'momentum', 0.9, 'up', datetime('now', '-40 days')),
		('AAPL', 'momentum', 0.7, 'up', datetime('now', '-31 days')),
		('MSFT', 'momentum', 0.8, 'down', datetime('now', '-1 day'))`)
	if err != nil {
		log.Fatal(err)
	}

	n, err := lifecycle.Purge(context.Background(), db, "signals",
		"timestamp < datetime('now', ?)", []any{"-30 days"}, 1000)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("purged %d old signals\n", n)
	// Output:
	// purged 2 old signals
}

// Verify tells a damaged database from a file that is no database at all.
func ExampleVerify() {
	dir, err := os.MkdirTemp("", "lifecycle")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	notes := filepath.Join(dir, "notes.db")
	os.WriteFile(notes, []byte("Meeting notes: nothing to see here, this is plain text.\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n"), 0o644)

	err = lifecycle.Verify(context.Background(), notes)
	switch {
	case errors.Is(err, lifecycle.ErrNotDatabase):
		fmt.Println("not a database")
	case errors.Is(err, lifecycle.ErrCorrupt):
		fmt.Println("corrupt:", err)
	case err != nil:
		fmt.Println("cannot check:", err)
	default:
		fmt.Println("sound")
	}
	// Output:
	// not a database
}

// Recover a database whose header was overwritten from the newest backup
// that verifies.
func ExampleRecoverFromBackup() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "lifecycle")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db := openTrading(dir)
	backups := filepath.Join(dir, "backups")
	os.Mkdir(backups, 0o755)
	if err := lifecycle.Backup(ctx, db, filepath.Join(backups, "monday.db")); err != nil {
		log.Fatal(err)
	}
	db.Close()

	live := filepath.Join(dir, "trading.db")
	f, _ := os.OpenFile(live, os.O_RDWR, 0)
	f.WriteAt([]byte("oops, wrong file handle"), 0)
	f.Close()

	rep, err := lifecycle.RecoverFromBackup(ctx, live, []string{backups})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("problem:", errors.Is(rep.DestProblem, lifecycle.ErrNotDatabase))
	fmt.Println("restored from", filepath.Base(rep.Restored))
	fmt.Println("verifies:", lifecycle.Verify(ctx, live) == nil)
	// Output:
	// problem: true
	// restored from monday.db
	// verifies: true
}
