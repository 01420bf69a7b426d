package gormql_test

import (
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Product has hooks, a check, a unique index and a database default.
type Product struct {
	ID        uint
	Code      string    `gorm:"uniqueIndex;not null"`
	Price     float64   `gorm:"check:price_positive,price >= 0"`
	Stock     int       `gorm:"default:10"`
	Slug      string    // set by BeforeCreate
	Added     time.Time `gorm:"default:CURRENT_TIMESTAMP"`
	Version   int       // raised by BeforeUpdate
	FoundVia  string    `gorm:"-"` // set by AfterFind
	createdOK bool      // set by AfterCreate
}

var errTooExpensive = errors.New("too expensive")

func (p *Product) BeforeCreate(tx *gorm.DB) error {
	if p.Price > 1e6 {
		return errTooExpensive
	}
	p.Slug = strings.ToLower(p.Code)
	return nil
}

func (p *Product) AfterCreate(tx *gorm.DB) error {
	p.createdOK = p.ID != 0
	return nil
}

func (p *Product) BeforeUpdate(tx *gorm.DB) error {
	tx.Statement.SetColumn("Version", p.Version+1)
	return nil
}

func (p *Product) AfterFind(tx *gorm.DB) error {
	p.FoundVia = "AfterFind"
	return nil
}

func openProducts(t *testing.T) (*gorm.DB, *sqlLog) {
	t.Helper()
	db, log := open(t)
	if err := db.AutoMigrate(&Product{}); err != nil {
		t.Fatal(err)
	}
	return db, log
}

func TestCRUDWithHooks(t *testing.T) {
	db, _ := openProducts(t)

	p := Product{Code: "ABC-1", Price: 9.5}
	if err := db.Create(&p).Error; err != nil {
		t.Fatal(err)
	}
	if p.ID == 0 || !p.createdOK || p.Slug != "abc-1" || p.Stock != 10 {
		t.Errorf("after Create: %+v", p)
	}
	if time.Since(p.Added) > time.Hour || p.Added.IsZero() {
		t.Errorf("Added = %v: the database default was not read back", p.Added)
	}
	var slug string
	if err := db.Raw("SELECT slug FROM products WHERE id = ?", p.ID).Row().Scan(&slug); err != nil || slug != "abc-1" {
		t.Errorf("stored slug %q (%v), want the one BeforeCreate set", slug, err)
	}

	// A hook's error stops the insert.
	err := db.Create(&Product{Code: "GOLD", Price: 2e6}).Error
	if !errors.Is(err, errTooExpensive) {
		t.Errorf("Create with a failing hook: %v", err)
	}
	if n := count(t, db, "SELECT count(*) FROM products WHERE code = 'GOLD'"); n != 0 {
		t.Error("the row a hook refused was inserted")
	}

	var got Product
	if err := db.First(&got, p.ID).Error; err != nil {
		t.Fatal(err)
	}
	if got.FoundVia != "AfterFind" || got.Code != "ABC-1" || got.Price != 9.5 {
		t.Errorf("First: %+v", got)
	}

	if err := db.Model(&got).Updates(Product{Price: 12}).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Model(&got).Update("stock", 3).Error; err != nil {
		t.Fatal(err)
	}
	var after Product
	db.First(&after, p.ID)
	if after.Price != 12 || after.Stock != 3 || after.Version != 2 {
		t.Errorf("after two updates: price %v stock %v version %v; want 12, 3, 2", after.Price, after.Stock, after.Version)
	}

	if err := db.Model(&Product{}).Where("price > ?", 100).Update("stock", 0).Error; err != nil {
		t.Fatal(err)
	}
	res := db.Delete(&Product{}, p.ID)
	if res.Error != nil || res.RowsAffected != 1 {
		t.Errorf("Delete: %v, %d rows", res.Error, res.RowsAffected)
	}
	if err := db.First(&Product{}, p.ID).Error; !errors.Is(err, gorm.ErrRecordNotFound) {
		t.Errorf("First after Delete: %v", err)
	}
}

func TestReturning(t *testing.T) {
	db, log := openProducts(t)
	a := Product{Code: "A", Price: 1}
	db.Create(&a)
	if stmts := log.take(); !slices.ContainsFunc(stmts, func(s string) bool { return strings.Contains(s, "RETURNING") }) {
		t.Errorf("INSERT without RETURNING:\n%s", strings.Join(stmts, "\n"))
	}

	var deleted []Product
	db.Create(&[]Product{{Code: "B", Price: 2}, {Code: "C", Price: 3}})
	err := db.Clauses(clause.Returning{}).Where("price >= ?", 2).Delete(&deleted).Error
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, p := range deleted {
		codes = append(codes, p.Code)
	}
	slices.Sort(codes)
	if !slices.Equal(codes, []string{"B", "C"}) {
		t.Errorf("DELETE ... RETURNING gave %v", codes)
	}

	var updated []Product
	err = db.Model(&updated).Clauses(clause.Returning{Columns: []clause.Column{{Name: "code"}, {Name: "price"}}}).
		Where("code = ?", "A").Update("price", 7).Error
	if err != nil || len(updated) != 1 || updated[0].Price != 7 {
		t.Errorf("UPDATE ... RETURNING: %v %+v", err, updated)
	}
}

func TestUpsert(t *testing.T) {
	db, _ := openProducts(t)
	first := Product{Code: "X", Price: 1}
	db.Create(&first)
	db.Create(&Product{Code: "Y", Price: 1})

	// DO UPDATE: the row is updated, and RETURNING gives its id, not a new one.
	again := Product{Code: "X", Price: 5}
	err := db.Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "code"}},
		DoUpdates: clause.AssignmentColumns([]string{"price"}),
	}).Create(&again).Error
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != first.ID {
		t.Errorf("upserted row got id %d, want the existing row's %d", again.ID, first.ID)
	}
	var price float64
	db.Raw("SELECT price FROM products WHERE code = 'X'").Row().Scan(&price)
	if price != 5 {
		t.Errorf("price after DO UPDATE: %v, want 5", price)
	}

	// DO NOTHING: nothing changes, nothing is reported.
	res := db.Clauses(clause.OnConflict{DoNothing: true}).Create(&Product{Code: "X", Price: 99})
	if res.Error != nil || res.RowsAffected != 0 {
		t.Errorf("DO NOTHING: %v, %d rows", res.Error, res.RowsAffected)
	}

	// UpdateAll in a batch: one row new, one updated.
	batch := []Product{{Code: "Y", Price: 8}, {Code: "Z", Price: 9}}
	err = db.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "code"}}, UpdateAll: true}).Create(&batch).Error
	if err != nil {
		t.Fatal(err)
	}
	var rows []Product
	db.Order("code").Find(&rows)
	got := map[string]float64{}
	for _, r := range rows {
		got[r.Code] = r.Price
	}
	if fmt.Sprint(got) != fmt.Sprint(map[string]float64{"X": 5, "Y": 8, "Z": 9}) {
		t.Errorf("after the upserts: %v", got)
	}
	for _, b := range batch {
		var code string
		db.Raw("SELECT code FROM products WHERE id = ?", b.ID).Row().Scan(&code)
		if code != b.Code {
			t.Errorf("upserted %s got id %d, which is %q's", b.Code, b.ID, code)
		}
	}

	// ON CONSTRAINT is not SQLite's: a clear error, not a syntax error.
	err = db.Clauses(clause.OnConflict{OnConstraint: "idx_products_code", DoNothing: true}).Create(&Product{Code: "W"}).Error
	if err == nil || !strings.Contains(err.Error(), "OnConflict.Columns") {
		t.Errorf("ON CONSTRAINT: %v", err)
	}
}

func TestBatchInsert(t *testing.T) {
	db, _ := openProducts(t)
	added := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	var ps []Product
	for i := range 250 {
		p := Product{Code: fmt.Sprintf("P%03d", i), Price: float64(i)}
		if i%2 == 0 {
			p.Added = added // the others get the database default
		}
		ps = append(ps, p)
	}
	if err := db.CreateInBatches(&ps, 100).Error; err != nil {
		t.Fatal(err)
	}
	type row struct {
		ID    uint
		Code  string
		Added time.Time
	}
	var rows []row
	db.Table("products").Order("id").Find(&rows)
	if len(rows) != 250 {
		t.Fatalf("%d rows, want 250", len(rows))
	}
	byID := map[uint]row{}
	for _, r := range rows {
		byID[r.ID] = r
	}
	for i, p := range ps {
		r, ok := byID[p.ID]
		if !ok || r.Code != p.Code {
			t.Fatalf("product %d (%s) has id %d, which is row %+v", i, p.Code, p.ID, r)
		}
		if i%2 == 0 && !r.Added.Equal(added) {
			t.Errorf("%s: added %v, want the value set", p.Code, r.Added)
		}
		if i%2 == 1 && (time.Since(r.Added) > time.Hour || !p.Added.Equal(r.Added)) {
			t.Errorf("%s: added %v in the database and %v in the struct, want now in both", p.Code, r.Added, p.Added)
		}
	}
}

func TestSoftDelete(t *testing.T) {
	db, _ := open(t)
	if err := db.AutoMigrate(&User{}); err != nil {
		t.Fatal(err)
	}
	users := []User{{Name: "ann", Email: "ann@x"}, {Name: "bob", Email: "bob@x"}}
	db.Create(&users)
	if err := db.Delete(&users[0]).Error; err != nil {
		t.Fatal(err)
	}
	var live []User
	db.Find(&live)
	if len(live) != 1 || live[0].Name != "bob" {
		t.Errorf("Find after a soft delete: %v", live)
	}
	var all []User
	db.Unscoped().Order("id").Find(&all)
	if len(all) != 2 || !all[0].DeletedAt.Valid {
		t.Errorf("Unscoped Find: %d rows, first deleted_at %v", len(all), all[0].DeletedAt)
	}
	if err := db.Unscoped().Delete(&users[0]).Error; err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, "SELECT count(*) FROM users"); n != 1 {
		t.Errorf("%d rows after a hard delete, want 1", n)
	}
}

func TestAssociationsAndPreload(t *testing.T) {
	db, _ := open(t)
	if err := db.AutoMigrate(&User{}, &Profile{}, &Order{}); err != nil {
		t.Fatal(err)
	}
	go1 := Language{Code: "go", Name: "Go"}
	u := User{
		Name:      "ann",
		Email:     "ann@x",
		Company:   Company{Name: "Acme"},
		Profile:   Profile{Bio: "gopher"},
		Orders:    []Order{{Amount: 10}, {Amount: 20.5}},
		Languages: []Language{go1, {Code: "sql", Name: "SQL"}},
	}
	if err := db.Create(&u).Error; err != nil {
		t.Fatal(err)
	}
	if u.CompanyID == nil || u.Profile.UserID != u.ID || u.Orders[1].UserID != u.ID {
		t.Errorf("associations were not linked: %+v", u)
	}

	var got User
	err := db.Preload("Orders", func(db *gorm.DB) *gorm.DB { return db.Order("amount") }).
		Preload("Languages").Preload("Profile").Joins("Company").First(&got, u.ID).Error
	if err != nil {
		t.Fatal(err)
	}
	if got.Company.Name != "Acme" || got.Profile.Bio != "gopher" || len(got.Orders) != 2 ||
		got.Orders[1].Amount != 20.5 || got.Orders[0].Note != "none" || len(got.Languages) != 2 {
		t.Errorf("preloaded: %+v", got)
	}

	// (an Association is used once: GORM's statement carries over.)
	if err := db.Model(&got).Association("Languages").Append(&Language{Code: "c", Name: "C"}); err != nil {
		t.Fatal(err)
	}
	if err := db.Model(&got).Association("Languages").Delete(&go1); err != nil {
		t.Fatal(err)
	}
	if n := db.Model(&got).Association("Languages").Count(); n != 2 {
		t.Errorf("%d languages, want 2", n)
	}
	if err := db.Model(&got).Association("Orders").Replace([]Order{{Amount: 1}}); err != nil {
		t.Fatal(err)
	}
	var orders []Order
	db.Where("user_id = ?", u.ID).Find(&orders)
	if len(orders) != 1 || orders[0].Amount != 1 {
		t.Errorf("orders after Replace: %+v", orders)
	}
	if n := count(t, db, "SELECT count(*) FROM orders WHERE user_id IS NULL"); n != 2 {
		t.Errorf("%d orders let go by Replace, want 2", n)
	}

	// Deleting the user cascades to its order (ON DELETE CASCADE).
	mustExec(t, db, "DELETE FROM user_languages")
	mustExec(t, db, "DELETE FROM profiles")
	if err := db.Unscoped().Delete(&got).Error; err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, "SELECT count(*) FROM orders"); n != 2 {
		t.Errorf("%d orders left after deleting their user, want the 2 that were let go", n)
	}
}

func TestTransactions(t *testing.T) {
	db, _ := openProducts(t)
	codes := func() []string {
		var c []string
		db.Model(&Product{}).Order("code").Pluck("code", &c)
		return c
	}

	// Nested transactions are savepoints: an inner failure is undone alone.
	err := db.Transaction(func(tx *gorm.DB) error {
		tx.Create(&Product{Code: "outer"})
		if err := tx.Transaction(func(tx2 *gorm.DB) error {
			return tx2.Create(&Product{Code: "inner-ok"}).Error
		}); err != nil {
			return err
		}
		err := tx.Transaction(func(tx2 *gorm.DB) error {
			tx2.Create(&Product{Code: "inner-undone"})
			return tx2.Transaction(func(tx3 *gorm.DB) error {
				tx3.Create(&Product{Code: "innermost-undone"})
				return errors.New("undo")
			})
		})
		if err == nil {
			t.Error("the failing nested transaction reported no error")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := codes(); !slices.Equal(got, []string{"inner-ok", "outer"}) {
		t.Errorf("after nested transactions: %v", got)
	}

	// A failing transaction is rolled back whole.
	err = db.Transaction(func(tx *gorm.DB) error {
		tx.Create(&Product{Code: "lost"})
		return errors.New("fail")
	})
	if err == nil || slices.Contains(codes(), "lost") {
		t.Errorf("rolled-back transaction: %v, %v", err, codes())
	}

	// SavePoint and RollbackTo by hand.
	tx := db.Begin()
	tx.Create(&Product{Code: "kept"})
	if err := tx.SavePoint("sp1").Error; err != nil {
		t.Fatal(err)
	}
	tx.Create(&Product{Code: "dropped"})
	if err := tx.RollbackTo("sp1").Error; err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit().Error; err != nil {
		t.Fatal(err)
	}
	if got := codes(); !slices.Contains(got, "kept") || slices.Contains(got, "dropped") {
		t.Errorf("after RollbackTo: %v", got)
	}

	// Outside a transaction a savepoint would open one nobody closes.
	if err := db.SavePoint("nope").Error; err == nil || !strings.Contains(err.Error(), "needs a transaction") {
		t.Errorf("SavePoint outside a transaction: %v", err)
	}
}

func TestFindInBatches(t *testing.T) {
	db, _ := openProducts(t)
	var ps []Product
	for i := range 250 {
		ps = append(ps, Product{Code: fmt.Sprintf("P%03d", i), Price: 1})
	}
	db.CreateInBatches(&ps, 100)

	var sizes []int
	var seen []string
	var batch []Product
	res := db.Order("id").FindInBatches(&batch, 100, func(tx *gorm.DB, n int) error {
		sizes = append(sizes, len(batch))
		for _, p := range batch {
			seen = append(seen, p.Code)
		}
		return tx.Model(&batch).Update("stock", n).Error
	})
	if res.Error != nil {
		t.Fatal(res.Error)
	}
	if !slices.Equal(sizes, []int{100, 100, 50}) || len(seen) != 250 || res.RowsAffected != 250 {
		t.Errorf("batches %v, %d rows seen, %d affected", sizes, len(seen), res.RowsAffected)
	}
	if n := count(t, db, "SELECT count(*) FROM products WHERE stock = 3"); n != 50 {
		t.Errorf("%d rows updated by the third batch, want 50", n)
	}
}

func TestRawAndNamedArguments(t *testing.T) {
	db, _ := openProducts(t)
	db.Create(&[]Product{{Code: "A", Price: 1}, {Code: "B", Price: 2}, {Code: "C", Price: 3}})

	var codes []string
	err := db.Raw("SELECT code FROM products WHERE price >= @low AND price <= @high ORDER BY code",
		sql.Named("low", 2), sql.Named("high", 3)).Scan(&codes).Error
	if err != nil || !slices.Equal(codes, []string{"B", "C"}) {
		t.Errorf("sql.Named: %v %v", codes, err)
	}
	var total float64
	err = db.Raw("SELECT sum(price) FROM products WHERE code IN @codes", map[string]any{"codes": []string{"A", "C"}}).
		Row().Scan(&total)
	if err != nil || total != 4 {
		t.Errorf("map of named arguments: %v %v", total, err)
	}
	var p Product
	if err := db.Where("code = @code OR slug = @code", sql.Named("code", "b")).First(&p).Error; err != nil || p.Code != "B" {
		t.Errorf("named argument in Where: %+v %v", p, err)
	}

	res := db.Exec("UPDATE products SET stock = ? WHERE price > ?", 0, 1)
	if res.Error != nil || res.RowsAffected != 2 {
		t.Errorf("Exec: %v, %d rows", res.Error, res.RowsAffected)
	}
	rows, err := db.Raw("SELECT code, stock FROM products ORDER BY code").Rows()
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var r struct {
			Code  string
			Stock int
		}
		if err := db.ScanRows(rows, &r); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprint(r.Code, r.Stock))
	}
	if !slices.Equal(got, []string{"A10", "B0", "C0"}) {
		t.Errorf("ScanRows: %v", got)
	}

	// OFFSET without LIMIT is LIMIT -1 OFFSET n in SQLite.
	var rest []string
	if err := db.Model(&Product{}).Order("code").Offset(1).Pluck("code", &rest).Error; err != nil || !slices.Equal(rest, []string{"B", "C"}) {
		t.Errorf("Offset without Limit: %v %v", rest, err)
	}
	// FOR UPDATE has no meaning in SQLite and is left out.
	var locked []Product
	if err := db.Clauses(clause.Locking{Strength: "UPDATE"}).Find(&locked).Error; err != nil || len(locked) != 3 {
		t.Errorf("Locking: %v", err)
	}
}

// Event has time and JSON columns.
type Event struct {
	ID      uint
	At      time.Time
	Ends    *time.Time
	Payload map[string]any `gorm:"serializer:json;type:json"`
	Tags    []string       `gorm:"serializer:json;type:json"`
}

func TestTimeAndJSON(t *testing.T) {
	db, _ := open(t)
	if err := db.AutoMigrate(&Event{}); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	ends := base.Add(90*time.Minute + 123456789*time.Nanosecond)
	local := time.Date(2024, 3, 1, 9, 30, 0, 500, time.FixedZone("X", -3*3600))
	events := []Event{
		{At: base, Ends: &ends, Payload: map[string]any{"kind": "trade", "qty": 3.0}, Tags: []string{"a", "b"}},
		{At: local, Payload: map[string]any{"kind": "quote"}},
		{At: base.Add(48 * time.Hour), Payload: map[string]any{"kind": "trade", "qty": 1.0}},
	}
	if err := db.Create(&events).Error; err != nil {
		t.Fatal(err)
	}

	var got []Event
	db.Order("id").Find(&got)
	if !got[0].At.Equal(base) || got[0].Ends == nil || !got[0].Ends.Equal(ends) {
		t.Errorf("times read back: %v %v", got[0].At, got[0].Ends)
	}
	if !got[1].At.Equal(local) || got[1].Ends != nil {
		t.Errorf("a time with an offset and a NULL time read back: %v %v", got[1].At, got[1].Ends)
	}
	if fmt.Sprint(got[0].Payload) != fmt.Sprint(events[0].Payload) || !slices.Equal(got[0].Tags, []string{"a", "b"}) {
		t.Errorf("JSON read back: %v %v", got[0].Payload, got[0].Tags)
	}

	// The JSON is SQLite's JSON: its functions read it.
	var trades []uint
	db.Model(&Event{}).Where("json_extract(payload, '$.kind') = ?", "trade").Order("id").Pluck("id", &trades)
	if !slices.Equal(trades, []uint{1, 3}) {
		t.Errorf("json_extract found %v, want [1 3]", trades)
	}
	var qty float64
	db.Raw("SELECT sum(json_extract(payload, '$.qty')) FROM events").Row().Scan(&qty)
	if qty != 4 {
		t.Errorf("sum of qty %v, want 4", qty)
	}

	// A range over UTC times (the driver stores RFC 3339, which sorts as
	// text within one time zone).
	var inRange []uint
	db.Model(&Event{}).Where("at >= ? AND at < ?", base, base.Add(24*time.Hour)).Pluck("id", &inRange)
	if !slices.Equal(inRange, []uint{1}) {
		t.Errorf("events in the first day: %v", inRange)
	}
	// SQLite's date functions read what the driver wrote.
	var day string
	db.Raw("SELECT date(at) FROM events WHERE id = 3").Row().Scan(&day)
	if day != "2024-03-03" {
		t.Errorf("date(at) = %q", day)
	}
}

func TestTranslateError(t *testing.T) {
	db, _ := open(t)
	if err := db.AutoMigrate(&Account{}, &Invoice{}, &Product{}); err != nil {
		t.Fatal(err)
	}
	db.Create(&Account{Name: "ann", Code: "A"})

	for _, tc := range []struct {
		name   string
		run    func(db *gorm.DB) error
		gorm   error
		sqlite sqlite3.ExtendedErrorCode
	}{
		{"unique constraint", func(db *gorm.DB) error { return db.Create(&Account{Name: "bob", Code: "A"}).Error },
			gorm.ErrDuplicatedKey, sqlite3.CONSTRAINT_UNIQUE},
		{"primary key", func(db *gorm.DB) error { return db.Create(&Account{ID: 1, Name: "dup", Code: "B"}).Error },
			gorm.ErrDuplicatedKey, sqlite3.CONSTRAINT_PRIMARYKEY},
		{"unique index", func(db *gorm.DB) error {
			db.Create(&Product{Code: "P"})
			return db.Create(&Product{Code: "P"}).Error
		}, gorm.ErrDuplicatedKey, sqlite3.CONSTRAINT_UNIQUE},
		{"foreign key", func(db *gorm.DB) error { return db.Create(&Invoice{AccountID: 77}).Error },
			gorm.ErrForeignKeyViolated, sqlite3.CONSTRAINT_FOREIGNKEY},
		{"foreign key on delete", func(db *gorm.DB) error {
			db.Exec("CREATE TABLE pins (account_id INTEGER REFERENCES accounts(id))")
			db.Exec("INSERT INTO pins VALUES (1)")
			return db.Delete(&Account{}, 1).Error
		}, gorm.ErrForeignKeyViolated, sqlite3.CONSTRAINT_FOREIGNKEY},
		{"check constraint", func(db *gorm.DB) error { return db.Create(&Product{Code: "neg", Price: -1}).Error },
			gorm.ErrCheckConstraintViolated, sqlite3.CONSTRAINT_CHECK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run(db)
			if !errors.Is(err, tc.gorm) {
				t.Errorf("%v is not %v", err, tc.gorm)
			}
			if !errors.Is(err, tc.sqlite) {
				t.Errorf("%v lost SQLite's error %v", err, tc.sqlite)
			}
		})
	}

	// Other errors pass unchanged.
	if err := db.First(&Account{}, 999).Error; err != gorm.ErrRecordNotFound {
		t.Errorf("not found: %v", err)
	}
	if err := db.Exec("SELEC 1").Error; !errors.Is(err, sqlite3.ERROR) || errors.Is(err, gorm.ErrDuplicatedKey) {
		t.Errorf("syntax error: %v", err)
	}

	// Without TranslateError, SQLite's error is returned as it is.
	raw := db.Session(&gorm.Session{})
	raw.Config.TranslateError = false
	err := raw.Create(&Account{Name: "bob", Code: "A"}).Error
	if errors.Is(err, gorm.ErrDuplicatedKey) || !errors.Is(err, sqlite3.CONSTRAINT_UNIQUE) {
		t.Errorf("without TranslateError: %v", err)
	}
}
