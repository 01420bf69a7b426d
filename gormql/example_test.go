package gormql_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/quantumleap/qlsqlite"
	"github.com/quantumleap/qlsqlite/gormql"
)

// GORM's quick start, on qlsqlite.
func Example() {
	dir, _ := os.MkdirTemp("", "gormql")
	defer os.RemoveAll(dir)

	db, err := gorm.Open(gormql.Open("file:"+filepath.Join(dir, "shop.db")), &gorm.Config{
		TranslateError: true,           // SQLite's constraint errors as GORM's
		Logger:         logger.Discard, // keep the example's output clean
	})
	if err != nil {
		log.Fatal(err)
	}
	sqlDB, _ := db.DB()
	defer sqlDB.Close()

	type Product struct {
		ID    uint
		Code  string `gorm:"unique"`
		Price uint
	}
	if err := db.AutoMigrate(&Product{}); err != nil {
		log.Fatal(err)
	}
	db.Create(&Product{Code: "D42", Price: 100})

	var product Product
	db.First(&product, "code = ?", "D42")
	db.Model(&product).Update("Price", 200)
	fmt.Println(product.ID, product.Code, product.Price)

	err = db.Create(&Product{Code: "D42", Price: 1}).Error
	fmt.Println(errors.Is(err, gorm.ErrDuplicatedKey))
	// Output:
	// 1 D42 200
	// true
}

// New uses a database opened with qlsqlite's options.
func ExampleNew() {
	dir, _ := os.MkdirTemp("", "gormql")
	defer os.RemoveAll(dir)

	sqlDB, err := qlsqlite.Open("file:"+filepath.Join(dir, "shop.db"), qlsqlite.WithTimeout(5*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	defer sqlDB.Close()
	db, err := gorm.Open(gormql.New(gormql.Config{Conn: sqlDB}), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		log.Fatal(err)
	}
	var version string
	db.Raw("SELECT sqlite_version()").Scan(&version)
	fmt.Println(db.Dialector.Name(), version >= "3.35")
	// Output: sqlite true
}

// Changing a column rebuilds the table; with foreign keys handled as SQLite
// documents, the rows of the tables that reference it stay.
func ExampleMigrator_AlterColumn() {
	dir, _ := os.MkdirTemp("", "gormql")
	defer os.RemoveAll(dir)

	db, err := gorm.Open(gormql.Open("file:"+filepath.Join(dir, "shop.db")), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		log.Fatal(err)
	}
	sqlDB, _ := db.DB()
	defer sqlDB.Close()

	type Line struct {
		ID      uint
		OrderID uint
		Item    string
	}
	type Order struct {
		ID       uint
		Customer string
		Lines    []Line `gorm:"constraint:OnDelete:CASCADE"`
	}
	db.AutoMigrate(&Order{}, &Line{})
	db.Create(&Order{Customer: "ann", Lines: []Line{{Item: "tea"}, {Item: "cake"}}})

	// Customer becomes NOT NULL with a default: SQLite cannot ALTER that.
	type OrderV2 struct {
		ID       uint
		Customer string `gorm:"not null;default:guest"`
		Lines    []Line `gorm:"foreignKey:OrderID;constraint:OnDelete:CASCADE"`
	}
	if err := db.Table("orders").Migrator().AlterColumn(&OrderV2{}, "Customer"); err != nil {
		log.Fatal(err)
	}
	var lines int64
	db.Model(&Line{}).Count(&lines)
	fmt.Println("lines after the rebuild:", lines)
	// Output: lines after the rebuild: 2
}
