package trading

import (
	"io/fs"
	"testing"
)

// The first migration is the schema, word for word: the two must not drift.
func TestInitialMigrationIsSchema(t *testing.T) {
	b, err := fs.ReadFile(Migrations, "001_initial_schema.sql")
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != Schema {
		t.Fatal("migrations/001_initial_schema.sql differs from schema.sql: keep them identical")
	}
}

func TestMigrationFiles(t *testing.T) {
	for _, name := range []string{"001_initial_schema.sql", "002_add_trading_indexes.sql", "rollback/002_rollback.sql"} {
		if _, err := fs.Stat(Migrations, name); err != nil {
			t.Errorf("missing %s: %v", name, err)
		}
	}
}
