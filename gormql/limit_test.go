package gormql_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ncruces/go-sqlite3"
	ncruces "github.com/ncruces/go-sqlite3/driver"
	"gorm.io/gorm"
)

// SQLite's planner reads the value of a bound LIMIT, so binding it again
// expires the statement and SQLite parses and plans it anew at its next
// step. The SQL gormql builds for First, Take, Limit and Offset runs again
// with new values without SQLite preparing it again, and pages through the
// rows as asked.
func TestLimitNeverReprepares(t *testing.T) {
	db, _ := open(t)
	if err := db.AutoMigrate(&Product{}); err != nil {
		t.Fatal(err)
	}
	for _, code := range []string{"A", "B", "C", "D"} {
		if err := db.Create(&Product{Code: code, Price: 1}).Error; err != nil {
			t.Fatal(err)
		}
	}
	dry := db.Session(&gorm.Session{DryRun: true})
	queries := []struct {
		name  string
		stmt  func(v int) *gorm.Statement
		codes func(v int) []string // what GORM reads with v, run for real
	}{
		{"First", func(v int) *gorm.Statement { return dry.First(&Product{}, v).Statement }, nil},
		{"Take", func(v int) *gorm.Statement { return dry.Where("id > ?", v).Take(&Product{}).Statement }, nil},
		{"Limit and Offset", func(v int) *gorm.Statement {
			return dry.Order("code").Limit(2).Offset(v).Find(&[]Product{}).Statement
		}, func(v int) []string { return pluck(t, db.Order("code").Limit(2).Offset(v)) }},
		{"Offset", func(v int) *gorm.Statement { return dry.Order("code").Offset(v).Find(&[]Product{}).Statement },
			func(v int) []string { return pluck(t, db.Order("code").Offset(v)) }},
	}
	want := map[string][][]string{
		"Limit and Offset": {{"B", "C"}, {"C", "D"}},
		"Offset":           {{"B", "C", "D"}, {"C", "D"}},
	}

	sqlDB, _ := db.DB()
	conn, err := sqlDB.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range queries {
		first := q.stmt(1)
		if again := q.stmt(2); again.SQL.String() != first.SQL.String() {
			t.Errorf("%s: the SQL changes with the value: %q, then %q", q.name, first.SQL.String(), again.SQL.String())
			continue
		}
		if strings.Contains(first.SQL.String(), "LIMIT ?") {
			t.Errorf("%s: LIMIT is bound: %s", q.name, first.SQL.String())
		}
		err := conn.Raw(func(dc any) error {
			stmt, _, err := dc.(ncruces.Conn).Raw().Prepare(first.SQL.String())
			if err != nil {
				return err
			}
			defer stmt.Close()
			for v := 1; v <= 3; v++ {
				if err := runWith(stmt, q.stmt(v).Vars); err != nil {
					return err
				}
			}
			if n := stmt.Status(sqlite3.STMTSTATUS_REPREPARE, false); n != 0 {
				t.Errorf("%s: SQLite prepared %q again %d times in 3 runs", q.name, first.SQL.String(), n)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", q.name, err)
		}
		if q.codes != nil {
			for i, v := range []int{1, 2} {
				if got := q.codes(v); !slices.Equal(got, want[q.name][i]) {
					t.Errorf("%s(%d): %v, want %v", q.name, v, got, want[q.name][i])
				}
			}
		}
	}
}

// runWith binds vars (integers, as GORM built them here) and steps stmt
// through its rows.
func runWith(stmt *sqlite3.Stmt, vars []any) error {
	for i, v := range vars {
		n, ok := v.(int)
		if !ok {
			return fmt.Errorf("value %d is a %T, not an int", i+1, v)
		}
		if err := stmt.BindInt(i+1, n); err != nil {
			return err
		}
	}
	for stmt.Step() {
	}
	if err := stmt.Err(); err != nil {
		return err
	}
	return stmt.Reset()
}

func pluck(t *testing.T, db *gorm.DB) []string {
	t.Helper()
	var codes []string
	if err := db.Model(&Product{}).Pluck("code", &codes).Error; err != nil {
		t.Fatal(err)
	}
	return codes
}
