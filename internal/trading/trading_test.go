package trading

import (
	"io/fs"
	"testing"
)

func TestMigrationFiles(t *testing.T) {
	for _, name := range []string{"001_initial_schema.sql", "002_add_trading_indexes.sql", "rollback/002_rollback.sql"} {
		if _, err := fs.Stat(Migrations, name); err != nil {
			t.Errorf("missing %s: %v", name, err)
		}
	}
}
