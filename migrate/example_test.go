package migrate_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"testing/fstest"

	_ "github.com/ncruces/go-sqlite3/driver"

	"github.com/quantumleap/qlsqlite/internal/trading"
	"github.com/quantumleap/qlsqlite/migrate"
)

// Apply the trading schema (embedded with //go:embed) and roll its indexes back.
func Example() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "trading.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()

	m, err := migrate.New(db, trading.Migrations, migrate.WithBackupDir(filepath.Join(dir, "backups")))
	if err != nil {
		log.Fatal(err)
	}
	plan, _ := m.Plan(ctx)
	for _, p := range plan {
		fmt.Println("pending:", p.Version, p.Source)
	}
	if err := m.Up(ctx); err != nil {
		log.Fatal(err)
	}
	v, _ := m.Version(ctx)
	fmt.Println("version:", v)

	if err := m.Down(ctx, 1); err != nil {
		log.Fatal(err)
	}
	st, _ := m.Status(ctx)
	for _, s := range st {
		fmt.Println(s.Version, s.State, s.Source, "backed up:", s.Backup != "")
	}
	fmt.Println("backup before Down:", filepath.Base(filepath.Dir(m.LastBackup())))
	// Output:
	// pending: 1 001_initial_schema.sql
	// pending: 2 002_add_trading_indexes.sql
	// version: 2
	// 1 applied 001_initial_schema.sql backed up: false
	// 2 pending 002_add_trading_indexes.sql backed up: false
	// backup before Down: backups
}

// A failing statement rolls its whole migration back and is named in the error.
func ExampleStatementError() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	db, _ := sql.Open("sqlite3", "file:"+filepath.Join(dir, "app.db"))
	defer db.Close()

	files := fstest.MapFS{
		"001_accounts.sql": {Data: []byte(`CREATE TABLE accounts (id INTEGER PRIMARY KEY, email TEXT UNIQUE);
INSERT INTO accounts (email) VALUES ('a@example.com');
INSERT INTO accounts (email) VALUES ('a@example.com');
`)},
	}
	m, _ := migrate.New(db, files, migrate.WithoutBackup())
	err := m.Up(context.Background())

	var se *migrate.StatementError
	if errors.As(err, &se) {
		fmt.Printf("%s, statement %d (line %d): %s\n", se.File, se.Ordinal, se.Line, se.SQL)
	}
	var n int
	db.QueryRow("SELECT count(*) FROM sqlite_schema WHERE name = 'accounts'").Scan(&n)
	fmt.Println("accounts tables:", n)
	// Output:
	// 001_accounts.sql, statement 3 (line 3): INSERT INTO accounts (email) VALUES ('a@example.com');
	// accounts tables: 0
}

// Migrations written in Go run in the migration's transaction.
func ExampleWithGoMigrations() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	db, _ := sql.Open("sqlite3", "file:"+filepath.Join(dir, "app.db"))
	defer db.Close()
	ctx := context.Background()

	files := fstest.MapFS{"001_settings.sql": {Data: []byte("CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT);\n")}}
	seed := migrate.GoMigration{
		Version:     2,
		Description: "seed settings",
		Up: func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO settings VALUES ('theme', ?)", "dark")
			return err
		},
		Down: func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "DELETE FROM settings WHERE key = 'theme'")
			return err
		},
	}
	m, _ := migrate.New(db, files, migrate.WithoutBackup(), migrate.WithGoMigrations(seed))
	if err := m.Up(ctx); err != nil {
		log.Fatal(err)
	}
	var theme string
	db.QueryRow("SELECT value FROM settings WHERE key = 'theme'").Scan(&theme)
	fmt.Println("theme:", theme)
	// Output:
	// theme: dark
}

// A no-transaction migration that fails part way is marked partial; Up
// refuses to go on until Resolve records what was repaired by hand.
func ExampleMigrator_Resolve() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	db, _ := sql.Open("sqlite3", "file:"+filepath.Join(dir, "app.db"))
	defer db.Close()
	ctx := context.Background()

	files := fstest.MapFS{"001_tables.sql": {Data: []byte(`-- qlsqlite:no-transaction
CREATE TABLE a (x);
CREATE TABLE a (y);
`)}}
	m, _ := migrate.New(db, files, migrate.WithoutBackup())
	err := m.Up(ctx)
	fmt.Println("partial:", errors.Is(err, migrate.ErrPartial))
	fmt.Println("up again refused:", errors.Is(m.Up(ctx), migrate.ErrPartial))

	// Table a exists, which is all the migration meant to do: record it as applied.
	if err := m.Resolve(ctx, 1, true); err != nil {
		log.Fatal(err)
	}
	v, err := m.Version(ctx)
	fmt.Println("version:", v, err)
	// Output:
	// partial: true
	// up again refused: true
	// version: 1 <nil>
}
