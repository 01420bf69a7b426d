package gormql

import (
	"errors"
	"fmt"

	"github.com/ncruces/go-sqlite3"
	"gorm.io/gorm"
)

// Translate implements [gorm.ErrorTranslator]; GORM calls it for every
// error when the [gorm.Config] sets TranslateError. SQLite's constraint
// errors become GORM's:
//
//	UNIQUE or PRIMARY KEY constraint failed   gorm.ErrDuplicatedKey
//	FOREIGN KEY constraint failed             gorm.ErrForeignKeyViolated
//	CHECK constraint failed                   gorm.ErrCheckConstraintViolated
//
// The translated error wraps both, so SQLite's own error stays in the
// chain: errors.Is(err, gorm.ErrDuplicatedKey) and
// errors.Is(err, sqlite3.CONSTRAINT_UNIQUE) both hold, and the message still
// names the table and column. Every other error is returned unchanged.
func (d *Dialector) Translate(err error) error {
	var sqliteErr *sqlite3.Error
	if err == nil || !errors.As(err, &sqliteErr) {
		return err
	}
	var gormErr error
	switch sqliteErr.ExtendedCode() {
	case sqlite3.CONSTRAINT_UNIQUE, sqlite3.CONSTRAINT_PRIMARYKEY, sqlite3.CONSTRAINT_ROWID:
		gormErr = gorm.ErrDuplicatedKey
	case sqlite3.CONSTRAINT_FOREIGNKEY:
		gormErr = gorm.ErrForeignKeyViolated
	case sqlite3.CONSTRAINT_CHECK:
		gormErr = gorm.ErrCheckConstraintViolated
	default:
		return err
	}
	if errors.Is(err, gormErr) {
		return err // translated already
	}
	return fmt.Errorf("%w: %w", gormErr, err)
}
