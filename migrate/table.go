package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// table is the name of the version table.
const table = "schema_versions"

// columns of schema_versions, in order, with their definitions. The first six
// are the ones first specified; backup, partial and partial_note are added to
// a table created by an older tool.
var columns = []struct{ name, def, zero string }{
	{"version", "INTEGER PRIMARY KEY", "0"},
	{"applied_at", "TEXT NOT NULL DEFAULT ''", "''"},
	{"description", "TEXT NOT NULL DEFAULT ''", "''"},
	{"rollback_script", "TEXT", "NULL"},
	{"checksum", "TEXT NOT NULL DEFAULT ''", "''"},
	{"execution_ms", "INTEGER NOT NULL DEFAULT 0", "0"},
	{"backup", "TEXT", "NULL"},
	{"partial", "INTEGER NOT NULL DEFAULT 0", "0"},
	{"partial_note", "TEXT", "NULL"},
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// appliedRow is one row of schema_versions.
type appliedRow struct {
	version     int64
	appliedAt   time.Time
	description string
	rollback    string
	checksum    string
	execMS      int64
	backup      string
	partial     bool
	note        string
}

// existingColumns returns the columns schema_versions has (none if the
// table does not exist).
func existingColumns(ctx context.Context, q querier) (map[string]bool, error) {
	query := "SELECT name FROM pragma_table_info('" + table + "')"
	if _, ok := q.(pgQuerier); ok {
		query = "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = '" + table + "'"
	}
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("migrate: reading %s: %w", table, err)
	}
	defer rows.Close()
	have := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("migrate: reading %s: %w", table, err)
		}
		have[strings.ToLower(name)] = true
	}
	return have, rows.Err()
}

// ensureTable creates schema_versions, or adds the columns an older table lacks.
func ensureTable(ctx context.Context, q querier) error {
	have, err := existingColumns(ctx, q)
	if err != nil {
		return err
	}
	if len(have) == 0 {
		defs := make([]string, len(columns))
		for i, c := range columns {
			defs[i] = c.name + " " + c.def
			if _, ok := q.(pgQuerier); ok { // PostgreSQL's INTEGER has 32 bits: versions are often timestamps
				defs[i] = strings.Replace(defs[i], "INTEGER", "BIGINT", 1)
			}
		}
		_, err := q.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+table+" (\n\t"+strings.Join(defs, ",\n\t")+"\n)")
		if err != nil {
			return fmt.Errorf("migrate: creating %s: %w", table, err)
		}
		return nil
	}
	if !have["version"] {
		return fmt.Errorf("migrate: table %s exists without a version column: it was not made by a migration tool this package understands; rename it", table)
	}
	for _, c := range columns[1:] {
		if have[c.name] {
			continue
		}
		if _, err := q.ExecContext(ctx, "ALTER TABLE "+table+" ADD COLUMN "+c.name+" "+c.def); err != nil {
			return fmt.Errorf("migrate: adding column %s to %s: %w", c.name, table, err)
		}
	}
	return nil
}

// readApplied returns the rows of schema_versions by version, or none when the
// table does not exist. It does not write, so Status, Plan and Version can use it.
func readApplied(ctx context.Context, q querier) ([]appliedRow, error) {
	have, err := existingColumns(ctx, q)
	if err != nil || len(have) == 0 {
		return nil, err
	}
	sel := make([]string, len(columns))
	for i, c := range columns {
		if have[c.name] {
			sel[i] = "COALESCE(" + c.name + ", " + c.zero + ")"
			if c.zero == "NULL" {
				sel[i] = "COALESCE(" + c.name + ", '')"
			}
		} else if c.zero == "NULL" {
			sel[i] = "''"
		} else {
			sel[i] = c.zero
		}
	}
	rows, err := q.QueryContext(ctx, "SELECT "+strings.Join(sel, ", ")+" FROM "+table+" ORDER BY version")
	if err != nil {
		return nil, fmt.Errorf("migrate: reading %s: %w", table, err)
	}
	defer rows.Close()
	var out []appliedRow
	for rows.Next() {
		var r appliedRow
		var at string
		var partial int64
		if err := rows.Scan(&r.version, &at, &r.description, &r.rollback, &r.checksum, &r.execMS, &r.backup, &partial, &r.note); err != nil {
			return nil, fmt.Errorf("migrate: reading %s: %w", table, err)
		}
		r.appliedAt = parseTime(at)
		r.partial = partial != 0
		out = append(out, r)
	}
	return out, rows.Err()
}

func parseTime(s string) time.Time {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02 15:04:05", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return time.Time{}
}

// insertRow records m as applied, with its rollback script, the backup taken
// before it ran, and partial with its note while a no-transaction migration
// runs.
func insertRow(ctx context.Context, q querier, m *Migration, backup string, execMS int64, partial bool, note string) error {
	p := 0
	if partial {
		p = 1
	}
	_, err := q.ExecContext(ctx, "INSERT INTO "+table+
		" (version, applied_at, description, rollback_script, checksum, execution_ms, backup, partial, partial_note)"+
		" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		m.Version, time.Now().UTC().Format(time.RFC3339Nano), m.Description, nullIfEmpty(m.RollbackSQL),
		m.Checksum, execMS, nullIfEmpty(backup), p, nullIfEmpty(note))
	if err != nil {
		return fmt.Errorf("migrate: %s: recording version %d: %w", m.Source, m.Version, err)
	}
	return nil
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
