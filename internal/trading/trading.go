// Package trading holds the trading platform's schema and workload, shared by
// the demo, the benchmarks and the tests.
package trading

import (
	"embed"
	"io/fs"
)

// Schema is the platform's core schema as first specified
// (../shared/trading/schema.sql), without secondary indexes: finding the
// right ones is the index advisor's job. It is migration 1 of [Migrations].
//
//go:embed migrations/001_initial_schema.sql
var Schema string

//go:embed migrations
var migrations embed.FS

// Migrations is the trading schema as versioned migrations, in the layout of
// github.com/quantumleap/qlsqlite/migrate: 001_initial_schema.sql (Schema,
// word for word), 002_add_trading_indexes.sql (the platform's index plan) and
// rollback/002_rollback.sql. Apply them with migrate.New(db, trading.Migrations).
var Migrations fs.FS = mustSub(migrations, "migrations")

func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err) // dir is embedded above: cannot happen
	}
	return sub
}
