package main

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"
)

// The models: users with their orders (read, updated and preloaded), and
// trades (written).
type User struct {
	ID        uint
	Name      string
	Email     string `gorm:"uniqueIndex"`
	CreatedAt time.Time
	Orders    []Order
}

type Order struct {
	ID        uint
	UserID    uint   `gorm:"index"`
	Symbol    string `gorm:"index"`
	Side      string
	Quantity  int
	Price     float64
	Status    string
	CreatedAt time.Time
	UpdatedAt time.Time
}

type Trade struct {
	ID         uint
	UserID     uint
	Symbol     string `gorm:"index"`
	Quantity   int
	Price      float64
	ExecutedAt time.Time
}

// The data every database starts with: 100 users with 10 orders each, the
// orders spread over 50 symbols, so 20 orders per symbol.
const (
	users         = 100
	ordersPerUser = 10
	orders        = users * ordersPerUser
	symbols       = 50
	perSymbol     = orders / symbols
	batchRows     = 10_000
	batchSize     = 500
)

func symbol(i int) string { return fmt.Sprintf("SYM%02d", i%symbols) }

// seed creates the tables and loads the data.
func seed(db *gorm.DB) error {
	if err := db.AutoMigrate(&User{}, &Order{}, &Trade{}); err != nil {
		return err
	}
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	us := make([]User, users)
	for i := range us {
		u := &us[i]
		u.Name, u.Email, u.CreatedAt = fmt.Sprint("user", i), fmt.Sprintf("user%d@example.com", i), t0
		for j := range ordersPerUser {
			n := i*ordersPerUser + j
			u.Orders = append(u.Orders, Order{Symbol: symbol(n), Side: "buy", Quantity: n%7 + 1, Price: float64(n%90) + 10.5,
				Status: "open", CreatedAt: t0.Add(time.Duration(n) * time.Second)})
		}
	}
	return db.CreateInBatches(&us, 50).Error
}

// A workload is one of the operations timed. run is a benchmark function
// for testing.Benchmark; each op checks what it got.
type workload struct {
	name   string // as in the table
	unit   string // how the table shows it: "µs", "ms" or "ops/s"
	run    func(b *testing.B, db *gorm.DB)
	writes bool // adds trades: the table is emptied before a measurement
}

var workloads = []workload{
	{"create", "µs", createOne, true},
	{"batches", "ms", createBatches, true},
	{"first", "µs", firstByKey, false},
	{"find20", "µs", findBySymbol, false},
	{"update", "µs", updateOne, false},
	{"preload", "ms", preload, false},
	{"mix", "ops/s", mix, false},
}

// titles are the workloads as the table names them.
var titles = map[string]string{
	"create":  "Create one row",
	"batches": "10k rows in batches of 500",
	"first":   "First by primary key",
	"find20":  "20 rows by symbol",
	"update":  "Update one column",
	"preload": "Preload 100 users x 10 orders",
	"mix":     "8 goroutines, 80 % First / 20 % Update",
}

// failure is the error that stopped a benchmark; the caller reports it
// after testing.Benchmark returns.
var failure atomic.Pointer[error]

// loop runs op(0), op(1), ... as b.Loop says, and stops the benchmark at
// the first error.
func loop(b *testing.B, op func(i int) error) {
	cpu := startCPU()
	i := 0
	for ; b.Loop(); i++ {
		if err := op(i); err != nil {
			failure.CompareAndSwap(nil, &err)
			b.FailNow()
		}
	}
	cpu.stop(i)
}

func createOne(b *testing.B, db *gorm.DB) {
	now := time.Now()
	loop(b, func(i int) error {
		t := Trade{UserID: uint(i%users + 1), Symbol: symbol(i), Quantity: 1, Price: 100.25, ExecutedAt: now}
		if err := db.Create(&t).Error; err != nil {
			return err
		}
		if t.ID == 0 {
			return fmt.Errorf("create: no ID read back")
		}
		return nil
	})
}

func createBatches(b *testing.B, db *gorm.DB) {
	now := time.Now()
	template := make([]Trade, batchRows)
	for i := range template {
		template[i] = Trade{UserID: uint(i%users + 1), Symbol: symbol(i), Quantity: i%10 + 1, Price: 100.25, ExecutedAt: now}
	}
	ts := make([]Trade, batchRows)
	loop(b, func(int) error {
		copy(ts, template)
		if err := db.CreateInBatches(&ts, batchSize).Error; err != nil {
			return err
		}
		if ts[batchRows-1].ID == 0 {
			return fmt.Errorf("batches: no ID read back")
		}
		return nil
	})
}

func firstByKey(b *testing.B, db *gorm.DB) {
	loop(b, func(i int) error {
		var o Order
		id := uint(i%orders + 1)
		if err := db.First(&o, id).Error; err != nil {
			return err
		}
		if o.ID != id {
			return fmt.Errorf("first: got order %d, want %d", o.ID, id)
		}
		return nil
	})
}

func findBySymbol(b *testing.B, db *gorm.DB) {
	var os []Order
	loop(b, func(i int) error {
		os = os[:0]
		if err := db.Where("symbol = ?", symbol(i)).Find(&os).Error; err != nil {
			return err
		}
		if len(os) != perSymbol {
			return fmt.Errorf("find20: %d rows, want %d", len(os), perSymbol)
		}
		return nil
	})
}

func updateOne(b *testing.B, db *gorm.DB) {
	loop(b, func(i int) error {
		res := db.Model(&Order{ID: uint(i%orders + 1)}).Update("price", float64(i%1000)+0.5)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return fmt.Errorf("update: %d rows affected, want 1", res.RowsAffected)
		}
		return nil
	})
}

func preload(b *testing.B, db *gorm.DB) {
	loop(b, func(int) error {
		var us []User
		if err := db.Preload("Orders").Find(&us).Error; err != nil {
			return err
		}
		if len(us) != users || len(us[users-1].Orders) != ordersPerUser {
			return fmt.Errorf("preload: %d users, want %d, each with %d orders", len(us), users, ordersPerUser)
		}
		return nil
	})
}

// mix runs b.N operations on poolSize goroutines: of every 5, 4 are a
// First by primary key, 1 an Update of one column.
func mix(b *testing.B, db *gorm.DB) {
	cpu := startCPU()
	defer cpu.stop(b.N)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range poolSize {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				id := uint(i%orders + 1)
				if i%5 == 0 {
					res := db.Model(&Order{ID: id}).Update("price", float64(i%1000)+0.5)
					if res.Error == nil && res.RowsAffected != 1 {
						res.Error = fmt.Errorf("mix: update: %d rows affected, want 1", res.RowsAffected)
					}
					if res.Error != nil {
						failure.CompareAndSwap(nil, &res.Error)
						return
					}
					continue
				}
				var o Order
				err := db.First(&o, id).Error
				if err == nil && o.ID != id {
					err = fmt.Errorf("mix: got order %d, want %d", o.ID, id)
				}
				if err != nil {
					failure.CompareAndSwap(nil, &err)
					return
				}
			}
		})
	}
	wg.Wait()
}
