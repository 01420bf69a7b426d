package gormql

import (
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"
)

// MigrateColumn implements [gorm.Migrator]: AutoMigrate calls it for each
// column the table has, and it alters the column (a rebuild, see
// [Migrator.AlterColumn]) where the model defines it differently: its
// type, size, NOT NULL, DEFAULT, UNIQUE, by GORM's own rules.
//
// A type the model writes out (a "type" tag, or a GormDBDataType method)
// is the column's declared type, compared by name: a column made as
// varchar(20) whose model now says type:text is altered to text. A type the
// model leaves to the dialector (a string field without a "type" tag, see
// [Dialector.DataTypeOf]) is met by any declared type SQLite stores the
// same way: a varchar(255) column made by another tool is left alone for a
// string field, where SQLite has no sizes to enforce. The names taken as
// one type are those of one type affinity:
//
//	integer  int, bigint, smallint, tinyint, mediumint, int2, int8, unsigned big int
//	text     varchar, char, character, nchar, nvarchar, varying character, native character, clob
//	real     float, double, double precision
//	numeric  decimal
//
// An alteration whose definition comes out as the table already has it is
// not made (see [Migrator.AlterColumn]), so AutoMigrate of an unchanged
// model writes nothing.
func (m Migrator) MigrateColumn(value any, field *schema.Field, columnType gorm.ColumnType) error {
	if m.typeIsDialectors(field) {
		want := m.dialector.DataTypeOf(field)
		if sameAffinityName(columnType.DatabaseTypeName(), want) {
			columnType = storedAs{column: columnType, typ: want}
		}
	}
	return m.Migrator.MigrateColumn(value, field, columnType)
}

// typeIsDialectors reports whether the column type of field is the one
// [Dialector.DataTypeOf] picks for its Go kind, not one the model wrote.
func (m Migrator) typeIsDialectors(field *schema.Field) bool {
	switch field.DataType {
	case schema.Bool, schema.Int, schema.Uint, schema.Float, schema.String, schema.Time, schema.Bytes:
		// GORM's DataTypeOf asks the field's type first (GormDBDataType).
		return m.DataTypeOf(field) == m.dialector.DataTypeOf(field)
	}
	return false
}

// typeAffinities are the type names taken as one by MigrateColumn, each
// group's first the one [Dialector.DataTypeOf] writes.
var typeAffinities = [][]string{
	{"integer", "int", "bigint", "smallint", "tinyint", "mediumint", "int2", "int8", "unsigned big int"},
	{"text", "varchar", "char", "character", "nchar", "nvarchar", "varying character", "native character", "clob"},
	{"real", "float", "double", "double precision"},
	{"numeric", "decimal"},
}

// sameAffinityName reports whether the declared type name stored (without
// its size) and the type want are names of one group of typeAffinities.
func sameAffinityName(stored, want string) bool {
	for _, names := range typeAffinities {
		if !strings.EqualFold(names[0], want) {
			continue
		}
		for _, n := range names {
			if strings.EqualFold(n, stored) {
				return true
			}
		}
	}
	return false
}

// storedAs is a column whose declared type is taken, for MigrateColumn, as
// the type typ the model asks for, without the size SQLite ignores.
type storedAs struct {
	column
	typ string
}

// column is gorm.ColumnType under a name that is not one of its methods'.
type column = gorm.ColumnType

func (c storedAs) DatabaseTypeName() string                       { return c.typ }
func (c storedAs) ColumnType() (string, bool)                     { return c.typ, true }
func (c storedAs) Length() (int64, bool)                          { return 0, false }
func (c storedAs) DecimalSize() (precision, scale int64, ok bool) { return 0, 0, false }

// FullDataTypeOf implements [gorm.Migrator]: the column's type with NOT
// NULL and DEFAULT, for CREATE TABLE, ADD COLUMN and a rebuild. It is
// GORM's, except that a default value is written as the driver binds it (a
// time as the RFC 3339 text rows hold), not for people as
// [Dialector.Explain] writes it: a row that takes the default then holds
// the same text as a row GORM inserts with that value.
func (m Migrator) FullDataTypeOf(field *schema.Field) clause.Expr {
	expr := clause.Expr{SQL: m.DataTypeOf(field)}
	if field.NotNull {
		expr.SQL += " NOT NULL"
	}
	if field.HasDefaultValue {
		switch {
		case field.DefaultValueInterface != nil:
			expr.SQL += " DEFAULT " + inlineSQL("?", field.DefaultValueInterface)
		case field.DefaultValue != "" && field.DefaultValue != "(-)":
			expr.SQL += " DEFAULT " + field.DefaultValue
		}
	}
	return expr
}
