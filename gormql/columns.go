package gormql

import (
	"database/sql"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/migrator"
)

// ColumnTypes implements [gorm.Migrator] from SQLite's own account of the
// table (PRAGMA table_xinfo and index_list) rather than from a query's
// result columns:
//
//   - DatabaseTypeName is the declared type without its size ("varchar"),
//     ColumnType the declared type as written ("varchar(100)"), Length and
//     DecimalSize the numbers in it;
//   - Nullable is false for NOT NULL and primary key columns;
//   - DefaultValue is the DEFAULT as written, a string literal unquoted;
//   - Unique is true for a column with a UNIQUE constraint of its own
//     (UNIQUE on the column, or a UNIQUE table constraint over it alone),
//     not for one covered by a unique index;
//   - AutoIncrement is true for the rowid column (INTEGER PRIMARY KEY, with
//     or without AUTOINCREMENT), whose values SQLite assigns;
//   - ScanType is the Go type the driver scans the declared type into;
//   - Comment is never set: SQLite has no column comments.
//
// Generated columns are included; a view's columns are reported too.
func (m Migrator) ColumnTypes(value any) ([]gorm.ColumnType, error) {
	var columns []gorm.ColumnType
	err := m.RunWithValue(value, func(stmt *gorm.Statement) error {
		var ddl *tableDDL
		if _, createSQL, err := m.tableSQL(stmt.Table); err == nil {
			if ddl, err = parseCreateTable(createSQL); err != nil {
				return err
			}
		}

		type columnRow struct {
			Name       string
			Type       string
			NotNull    bool
			Default    sql.NullString
			PrimaryKey int
			Hidden     int
		}
		var rows []columnRow
		err := m.DB.Raw(`SELECT name AS name, type AS type, "notnull" AS not_null, dflt_value AS "default", pk AS primary_key, hidden AS hidden
			FROM pragma_table_xinfo(?) WHERE hidden <> 1 ORDER BY cid`, stmt.Table).Scan(&rows).Error
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			return errors.New("gormql: no table or view " + quoteIdent(stmt.Table))
		}

		var unique []string
		err = m.DB.Raw(`SELECT min(ii.name) FROM pragma_index_list(?) AS il, pragma_index_info(il.name) AS ii
			WHERE il.origin = 'u' GROUP BY il.name HAVING count(*) = 1`, stmt.Table).Scan(&unique).Error
		if err != nil {
			return err
		}

		pks := 0
		for _, r := range rows {
			if r.PrimaryKey > 0 {
				pks++
			}
		}
		withoutRowid := ddl != nil && mentions(tokenize(ddl.suffix), "ROWID")

		for _, r := range rows {
			typ, size := splitType(r.Type)
			ct := migrator.ColumnType{
				NameValue:          sql.NullString{String: r.Name, Valid: true},
				DataTypeValue:      sql.NullString{String: typ, Valid: true},
				ColumnTypeValue:    sql.NullString{String: r.Type, Valid: true},
				PrimaryKeyValue:    sql.NullBool{Bool: r.PrimaryKey > 0, Valid: true},
				NullableValue:      sql.NullBool{Bool: !r.NotNull && r.PrimaryKey == 0, Valid: true},
				UniqueValue:        sql.NullBool{Valid: true},
				AutoIncrementValue: sql.NullBool{Valid: true},
				ScanTypeValue:      scanType(typ),
			}
			for _, u := range unique {
				if strings.EqualFold(u, r.Name) {
					ct.UniqueValue.Bool = true
				}
			}
			ct.AutoIncrementValue.Bool = r.PrimaryKey > 0 && pks == 1 && !withoutRowid && strings.EqualFold(r.Type, "integer")
			switch len(size) {
			case 1:
				ct.LengthValue = sql.NullInt64{Int64: size[0], Valid: true}
			case 2:
				ct.DecimalSizeValue = sql.NullInt64{Int64: size[0], Valid: true}
				ct.ScaleValue = sql.NullInt64{Int64: size[1], Valid: true}
			}
			if r.Default.Valid && !strings.EqualFold(r.Default.String, "NULL") {
				ct.DefaultValueValue = sql.NullString{String: defaultValue(r.Default.String), Valid: true}
			}
			columns = append(columns, ct)
		}
		return nil
	})
	return columns, err
}

// splitType splits a declared type into its name and the numbers in its
// parentheses: "decimal(10, 2)" is "decimal" and [10 2].
func splitType(decl string) (string, []int64) {
	open := strings.IndexByte(decl, '(')
	if open < 0 || !strings.HasSuffix(decl, ")") {
		return strings.TrimSpace(decl), nil
	}
	var size []int64
	for part := range strings.SplitSeq(decl[open+1:len(decl)-1], ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(part), 10, 64)
		if err != nil {
			return strings.TrimSpace(decl[:open]), nil
		}
		size = append(size, n)
	}
	return strings.TrimSpace(decl[:open]), size
}

// defaultValue returns the value of a column's DEFAULT: a string literal
// without its quotes, anything else as written.
func defaultValue(dflt string) string {
	toks := tokenize(dflt)
	if len(toks) == 1 && toks[0].kind == tokString {
		return toks[0].name()
	}
	return dflt
}

// scanType returns the type the ncruces driver scans a column of the
// declared type into, by the driver's own rules.
func scanType(typ string) reflect.Type {
	switch strings.ToUpper(typ) {
	case "INT", "INTEGER":
		return reflect.TypeFor[int64]()
	case "REAL":
		return reflect.TypeFor[float64]()
	case "TEXT":
		return reflect.TypeFor[string]()
	case "BLOB":
		return reflect.TypeFor[[]byte]()
	case "BOOLEAN":
		return reflect.TypeFor[bool]()
	case "DATE", "TIME", "DATETIME", "TIMESTAMP":
		return reflect.TypeFor[time.Time]()
	}
	return reflect.TypeFor[any]()
}
