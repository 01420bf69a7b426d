package gormql_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/quantumleap/qlsqlite/gormql"
)

func openBench(b *testing.B) *gorm.DB {
	b.Helper()
	db, err := gorm.Open(gormql.Open("file:"+filepath.Join(b.TempDir(), "bench.db")),
		&gorm.Config{Logger: logger.Discard, SkipDefaultTransaction: true})
	if err != nil {
		b.Fatal(err)
	}
	sqlDB, _ := db.DB()
	b.Cleanup(func() { sqlDB.Close() })
	if err := db.AutoMigrate(&Product{}); err != nil {
		b.Fatal(err)
	}
	return db
}

// GORM's cost over database/sql on the same qlsqlite database: a lookup
// by primary key.
func BenchmarkFirst(b *testing.B) {
	db := openBench(b)
	var ps []Product
	for i := range 1000 {
		ps = append(ps, Product{Code: fmt.Sprint("P", i), Price: 1})
	}
	db.CreateInBatches(&ps, 500)
	b.Run("gorm", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			var p Product
			if err := db.First(&p, i%1000+1).Error; err != nil {
				b.Fatal(err)
			}
		}
	})
	// The same statement, scanned by hand.
	sqlDB, _ := db.DB()
	query := db.Session(&gorm.Session{DryRun: true}).First(&Product{}, 1).Statement.SQL.String()
	b.Run("database-sql", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			var p Product
			err := sqlDB.QueryRow(query, i%1000+1).Scan(&p.ID, &p.Code, &p.Price, &p.Stock, &p.Slug, &p.Added, &p.Version)
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

// An insert that reads its generated key and default back (RETURNING), in
// a batch of 100 per statement and transaction.
func BenchmarkCreateInBatches(b *testing.B) {
	db := openBench(b)
	for i := 0; b.Loop(); i++ {
		ps := make([]Product, 100)
		for j := range ps {
			ps[j] = Product{Code: fmt.Sprint("P", i, "-", j), Price: 1}
		}
		if err := db.CreateInBatches(&ps, 100).Error; err != nil {
			b.Fatal(err)
		}
	}
}

// A table rebuild (AlterColumn) of a 10,000-row parent table that a
// 10,000-row child table references ON DELETE CASCADE, with an index and
// the foreign_key_check of both tables.
func BenchmarkAlterColumnRebuild(b *testing.B) {
	db, err := gorm.Open(gormql.Open("file:"+filepath.Join(b.TempDir(), "bench.db")), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		b.Fatal(err)
	}
	sqlDB, _ := db.DB()
	defer sqlDB.Close()
	if err := db.AutoMigrate(&Account{}, &Invoice{}); err != nil {
		b.Fatal(err)
	}
	const n = 10000
	err = db.Exec(`WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?)
		INSERT INTO accounts (name, code) SELECT 'name' || i, 'code' || i FROM s`, n).Error
	if err == nil {
		err = db.Exec(`INSERT INTO invoices (account_id, total) SELECT id, id * 1.5 FROM accounts`).Error
	}
	if err != nil {
		b.Fatal(err)
	}
	// Alternate between two definitions of name, so each round rebuilds.
	models := []any{&accountV2{}, &Account{}}
	for i := 0; b.Loop(); i++ {
		if err := db.Migrator().AlterColumn(models[i%2], "Name"); err != nil {
			b.Fatal(err)
		}
	}
	var invoices int64
	db.Model(&Invoice{}).Count(&invoices)
	if invoices != n {
		b.Fatalf("%d invoices after the rebuilds, want %d", invoices, n)
	}
}
