package gormql_test

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"
)

// Gadget has a column of every kind ColumnTypes describes.
type Gadget struct {
	ID     uint
	Name   string  `gorm:"type:varchar(100);not null;default:widget"`
	Price  float64 `gorm:"type:decimal(10,2)"`
	Serial string  `gorm:"unique"`
	Active bool    `gorm:"default:true"`
	Made   time.Time
	Blob   []byte
	Score  int `gorm:"default:7"`
}

func TestColumnTypes(t *testing.T) {
	db, log := open(t)
	if err := db.AutoMigrate(&Gadget{}); err != nil {
		t.Fatal(err)
	}
	cols, err := db.Migrator().ColumnTypes(&Gadget{})
	if err != nil {
		t.Fatal(err)
	}
	type desc struct {
		name, dbType, colType    string
		length                   int64
		precision, scale         int64
		nullable, unique, pk, ai bool
		dflt                     string
		hasDflt                  bool
		scan                     reflect.Type
	}
	var got []desc
	for _, c := range cols {
		d := desc{name: c.Name(), dbType: c.DatabaseTypeName(), scan: c.ScanType()}
		d.colType, _ = c.ColumnType()
		d.length, _ = c.Length()
		d.precision, d.scale, _ = c.DecimalSize()
		d.nullable, _ = c.Nullable()
		d.unique, _ = c.Unique()
		d.pk, _ = c.PrimaryKey()
		d.ai, _ = c.AutoIncrement()
		d.dflt, d.hasDflt = c.DefaultValue()
		got = append(got, d)
	}
	anyType := reflect.TypeFor[any]()
	want := []desc{
		{name: "id", dbType: "INTEGER", colType: "INTEGER", pk: true, ai: true, scan: reflect.TypeFor[int64]()},
		{name: "name", dbType: "varchar", colType: "varchar(100)", length: 100, dflt: "widget", hasDflt: true, scan: anyType},
		{name: "price", dbType: "decimal", colType: "decimal(10,2)", precision: 10, scale: 2, nullable: true, scan: anyType},
		{name: "serial", dbType: "TEXT", colType: "TEXT", nullable: true, unique: true, scan: reflect.TypeFor[string]()},
		{name: "active", dbType: "numeric", colType: "numeric", nullable: true, dflt: "true", hasDflt: true, scan: anyType},
		{name: "made", dbType: "datetime", colType: "datetime", nullable: true, scan: reflect.TypeFor[time.Time]()},
		{name: "blob", dbType: "BLOB", colType: "BLOB", nullable: true, scan: reflect.TypeFor[[]byte]()},
		{name: "score", dbType: "INTEGER", colType: "INTEGER", nullable: true, dflt: "7", hasDflt: true, scan: reflect.TypeFor[int64]()},
	}
	if len(got) != len(want) {
		t.Fatalf("%d columns, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("column %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}

	// What ColumnTypes says matches the model, so AutoMigrate leaves it.
	log.take()
	if err := db.AutoMigrate(&Gadget{}); err != nil {
		t.Fatal(err)
	}
	if w := writes(log.take()); len(w) > 0 {
		t.Errorf("AutoMigrate of an unchanged model wrote:\n%s", strings.Join(w, "\n"))
	}
}

func TestMigrateUnique(t *testing.T) {
	db, log := open(t)
	if err := db.AutoMigrate(&Gadget{}); err != nil {
		t.Fatal(err)
	}
	db.Create(&[]Gadget{{Serial: "s1"}, {Serial: "s1-other"}})

	// Serial is no longer unique: AutoMigrate drops the constraint.
	type gadgetV2 struct {
		ID     uint
		Name   string  `gorm:"type:varchar(100);not null;default:widget"`
		Price  float64 `gorm:"type:decimal(10,2)"`
		Serial string
		Active bool `gorm:"default:true"`
		Made   time.Time
		Blob   []byte
		Score  int `gorm:"default:7"`
	}
	v2 := db.Table("gadgets")
	if err := v2.AutoMigrate(&gadgetV2{}); err != nil {
		t.Fatal(err)
	}
	if err := db.Create(&Gadget{Serial: "s1"}).Error; err != nil {
		t.Errorf("a duplicate serial after the constraint was dropped: %v", err)
	}
	log.take()
	if err := v2.AutoMigrate(&gadgetV2{}); err != nil {
		t.Fatal(err)
	}
	if w := writes(log.take()); len(w) > 0 {
		t.Errorf("the second AutoMigrate wrote:\n%s", strings.Join(w, "\n"))
	}

	// Unique again, but the rows have a duplicate: refused, nothing lost.
	err := db.AutoMigrate(&Gadget{})
	if !errors.Is(err, gorm.ErrDuplicatedKey) {
		t.Errorf("making a column with duplicates unique: %v, want gorm.ErrDuplicatedKey", err)
	}
	if n := count(t, db, "SELECT count(*) FROM gadgets"); n != 3 {
		t.Errorf("%d gadgets after the refusal, want 3", n)
	}
	mustExec(t, db, "DELETE FROM gadgets WHERE id = 3")
	if err := db.AutoMigrate(&Gadget{}); err != nil {
		t.Fatal(err)
	}
	if !db.Migrator().HasConstraint(&Gadget{}, "uni_gadgets_serial") {
		t.Error("no unique constraint after AutoMigrate")
	}
}

func TestLegacyInlineUnique(t *testing.T) {
	db, log := open(t)
	// A table as older GORM SQLite drivers made it: UNIQUE on the column.
	mustExec(t, db, `CREATE TABLE tags (id integer PRIMARY KEY AUTOINCREMENT, label text UNIQUE, color text)`)
	mustExec(t, db, `INSERT INTO tags (label, color) VALUES ('a', 'red'), ('b', 'red')`)
	type Tag struct {
		ID    uint
		Label string
		Color string
	}
	if err := db.AutoMigrate(&Tag{}); err != nil {
		t.Fatal(err)
	}
	cols, _ := db.Migrator().ColumnTypes(&Tag{})
	for _, c := range cols {
		if u, _ := c.Unique(); u {
			t.Errorf("%s is still unique", c.Name())
		}
	}
	log.take()
	if err := db.AutoMigrate(&Tag{}); err != nil {
		t.Fatal(err)
	}
	if w := writes(log.take()); len(w) > 0 {
		t.Errorf("the second AutoMigrate wrote:\n%s", strings.Join(w, "\n"))
	}
	if n := count(t, db, "SELECT count(*) FROM tags"); n != 2 {
		t.Errorf("%d tags, want 2", n)
	}
}

func TestCheckConstraints(t *testing.T) {
	db, _ := openProducts(t)
	m := db.Migrator()
	if !m.HasConstraint(&Product{}, "price_positive") {
		t.Fatal("no check constraint")
	}
	if err := m.DropConstraint(&Product{}, "price_positive"); err != nil {
		t.Fatal(err)
	}
	if m.HasConstraint(&Product{}, "price_positive") {
		t.Error("the check is still there")
	}
	if err := db.Create(&Product{Code: "neg", Price: -1}).Error; err != nil {
		t.Errorf("a negative price without the check: %v", err)
	}
	// The check cannot come back while a row breaks it.
	if err := m.CreateConstraint(&Product{}, "price_positive"); !errors.Is(err, gorm.ErrCheckConstraintViolated) {
		t.Errorf("adding a check a row breaks: %v", err)
	}
	mustExec(t, db, "DELETE FROM products WHERE price < 0")
	if err := m.CreateConstraint(&Product{}, "price_positive"); err != nil {
		t.Fatal(err)
	}
	if err := db.Create(&Product{Code: "neg", Price: -1}).Error; !errors.Is(err, gorm.ErrCheckConstraintViolated) {
		t.Errorf("a negative price with the check back: %v", err)
	}
	if err := m.DropConstraint(&Product{}, "no_such_check"); err == nil {
		t.Error("dropping a constraint that does not exist succeeded")
	}
	if err := m.CreateConstraint(&Product{}, "no_such_check"); err == nil {
		t.Error("creating a constraint the model does not define succeeded")
	}
}

// Book has indexes of every kind SQLite has.
type Book struct {
	ID     uint
	Title  string `gorm:"index:idx_title_nocase,collate:NOCASE"`
	Author string `gorm:"index:idx_author_year,priority:1"`
	Year   int    `gorm:"index:idx_author_year,priority:2,sort:desc"`
	ISBN   string `gorm:"uniqueIndex:idx_isbn,where:isbn <> ''"`
	Lower  string `gorm:"index:idx_lower,expression:lower(author)"`
}

func TestIndexes(t *testing.T) {
	db, _ := open(t)
	if err := db.AutoMigrate(&Book{}); err != nil {
		t.Fatal(err)
	}
	m := db.Migrator()
	for _, name := range []string{"idx_title_nocase", "idx_author_year", "idx_isbn", "idx_lower"} {
		if !m.HasIndex(&Book{}, name) {
			t.Errorf("no index %s", name)
		}
	}

	// What SQLite says about them.
	type indexCol struct {
		Name string
		Desc bool
		Coll string
	}
	xinfo := func(index string) []indexCol {
		var cols []indexCol
		db.Raw(`SELECT coalesce(name, '<expr>') AS name, "desc" AS "desc", coll AS coll FROM pragma_index_xinfo(?) WHERE key ORDER BY seqno`, index).Scan(&cols)
		return cols
	}
	if got := xinfo("idx_author_year"); !slices.Equal(got, []indexCol{{"author", false, "BINARY"}, {"year", true, "BINARY"}}) {
		t.Errorf("idx_author_year: %v", got)
	}
	if got := xinfo("idx_title_nocase"); !slices.Equal(got, []indexCol{{"title", false, "NOCASE"}}) {
		t.Errorf("idx_title_nocase: %v", got)
	}
	if got := xinfo("idx_lower"); !slices.Equal(got, []indexCol{{"<expr>", false, "BINARY"}}) {
		t.Errorf("idx_lower: %v", got)
	}
	var partial, unique bool
	db.Raw(`SELECT partial, "unique" FROM pragma_index_list('books') WHERE name = 'idx_isbn'`).Row().Scan(&partial, &unique)
	if !partial || !unique {
		t.Errorf("idx_isbn: partial %v unique %v", partial, unique)
	}
	db.Create(&[]Book{{ISBN: ""}, {ISBN: ""}, {ISBN: "1"}})
	if err := db.Create(&Book{ISBN: "1"}).Error; !errors.Is(err, gorm.ErrDuplicatedKey) {
		t.Errorf("a duplicate ISBN: %v", err)
	}

	if err := m.RenameIndex(&Book{}, "idx_author_year", "idx_by_author"); err != nil {
		t.Fatal(err)
	}
	if m.HasIndex(&Book{}, "idx_author_year") || !m.HasIndex(&Book{}, "idx_by_author") {
		t.Error("the index was not renamed")
	}
	if got := xinfo("idx_by_author"); !slices.Equal(got, []indexCol{{"author", false, "BINARY"}, {"year", true, "BINARY"}}) {
		t.Errorf("the renamed index changed: %v", got)
	}
	if err := m.RenameIndex(&Book{}, "idx_isbn", "idx_isbn2"); err != nil {
		t.Fatal(err)
	}
	db.Raw(`SELECT partial FROM pragma_index_list('books') WHERE name = 'idx_isbn2'`).Row().Scan(&partial)
	if !partial {
		t.Error("the renamed partial index lost its WHERE")
	}
	if err := m.RenameIndex(&Book{}, "no_such_index", "x"); err == nil {
		t.Error("renaming a missing index succeeded")
	}

	indexes, err := m.GetIndexes(&Book{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, ix := range indexes {
		got[ix.Name()] = ix.Columns()
	}
	if len(got) != 4 || !slices.Equal(got["idx_by_author"], []string{"author", "year"}) || !slices.Equal(got["idx_isbn2"], []string{"isbn"}) {
		t.Errorf("GetIndexes: %v", got)
	}

	if err := m.DropIndex(&Book{}, "idx_by_author"); err != nil {
		t.Fatal(err)
	}
	if m.HasIndex(&Book{}, "idx_by_author") {
		t.Error("the index was not dropped")
	}

	type Doc struct {
		ID   uint
		Body string `gorm:"index:,class:FULLTEXT"`
	}
	if err := db.AutoMigrate(&Doc{}); err == nil || !strings.Contains(err.Error(), "FTS5") {
		t.Errorf("a FULLTEXT index: %v, want an error pointing to FTS5", err)
	}
}

func TestViews(t *testing.T) {
	db, _ := openProducts(t)
	db.Create(&[]Product{{Code: "it's", Price: 5}, {Code: "b", Price: 50}, {Code: "c", Price: 500}})
	m := db.Migrator()

	q := db.Model(&Product{}).Select("code", "price").Where("price > ? AND code <> ?", 10, "it's")
	if err := m.CreateView("pricey", gorm.ViewOption{Query: q}); err != nil {
		t.Fatal(err)
	}
	var codes []string
	db.Table("pricey").Order("code").Pluck("code", &codes)
	if !slices.Equal(codes, []string{"b", "c"}) {
		t.Errorf("the view has %v", codes)
	}
	tt, err := m.TableType("pricey")
	if err != nil || tt.Type() != "view" || tt.Schema() != "main" {
		t.Errorf("TableType of a view: %+v %v", tt, err)
	}
	if tt, err := m.TableType(&Product{}); err != nil || tt.Type() != "table" {
		t.Errorf("TableType of a table: %+v %v", tt, err)
	}

	if err := m.CreateView("pricey", gorm.ViewOption{Query: q}); err == nil {
		t.Error("making a view twice without Replace succeeded")
	}
	q2 := db.Model(&Product{}).Select("code").Where("code = ?", "it's")
	if err := m.CreateView("pricey", gorm.ViewOption{Query: q2, Replace: true}); err != nil {
		t.Fatal(err)
	}
	codes = nil
	db.Table("pricey").Pluck("code", &codes)
	if !slices.Equal(codes, []string{"it's"}) {
		t.Errorf("the replaced view has %v", codes)
	}
	if err := m.CreateView("checked", gorm.ViewOption{Query: q, CheckOption: "WITH CHECK OPTION"}); err == nil {
		t.Error("WITH CHECK OPTION succeeded")
	}
	if err := m.DropView("pricey"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.TableType("pricey"); err == nil {
		t.Error("the view is still there")
	}
	if err := m.CreateView("v", gorm.ViewOption{}); !errors.Is(err, gorm.ErrSubQueryRequired) {
		t.Errorf("a view without a query: %v", err)
	}
}

func TestTables(t *testing.T) {
	db, _ := openProducts(t)
	m := db.Migrator()
	if !m.HasTable(&Product{}) || !m.HasTable("PRODUCTS") || m.HasTable("nothing") {
		t.Error("HasTable")
	}
	if err := m.RenameTable(&Product{}, "items"); err != nil {
		t.Fatal(err)
	}
	if m.HasTable(&Product{}) || !m.HasTable("items") {
		t.Error("RenameTable")
	}
	if err := m.DropTable("items"); err != nil {
		t.Fatal(err)
	}
	tables, err := m.GetTables()
	if err != nil || len(tables) != 0 {
		t.Errorf("tables left: %v %v (sqlite_sequence is SQLite's own)", tables, err)
	}
	if m.CurrentDatabase() != "main" {
		t.Error("CurrentDatabase")
	}
}

// Quote is written in ways GORM's comparison of a model with its column
// finds different from what SQLite keeps, though the definitions are the
// same: a time default stored as the driver binds it, a size list with a
// space, a type name in capitals, a float32 default.
type Quote struct {
	ID     uint
	Valid  time.Time `gorm:"default:2000-01-02 03:04:05"`
	Bid    float64   `gorm:"type:decimal(10, 2)"`
	Symbol string    `gorm:"type:VARCHAR(12);not null;default:'n/a'"`
	Spread float32   `gorm:"default:0.1"`
	Venue  string    `gorm:"type:varchar(8) collate nocase"`
}

// Every model of these tests migrates once: a second AutoMigrate finds the
// schema as the models describe it and writes nothing.
func TestAutoMigrateIsIdempotent(t *testing.T) {
	db, log := open(t)
	models := []any{&User{}, &Profile{}, &Order{}, &Account{}, &Invoice{}, &Product{}, &Gadget{}, &Book{}, &Event{}, &Quote{}}
	if err := db.AutoMigrate(models...); err != nil {
		t.Fatal(err)
	}
	log.take()
	if err := db.AutoMigrate(models...); err != nil {
		t.Fatal(err)
	}
	if w := writes(log.take()); len(w) > 0 {
		t.Errorf("the second AutoMigrate wrote:\n%s", strings.Join(w, "\n"))
	}
}

// A DEFAULT in a table's definition and a value in a view's body are
// written as the driver binds them, not as Explain writes them for people:
// a row that takes a time default holds the same text as one GORM inserts
// with that time, and a view that selects by time finds both.
func TestDefaultsAndViewsHoldBoundValues(t *testing.T) {
	db, _ := open(t)
	if err := db.AutoMigrate(&Quote{}); err != nil {
		t.Fatal(err)
	}
	valid := time.Date(2000, 1, 2, 3, 4, 5, 0, time.Local) // the tag's time, as GORM parses it
	mustExec(t, db, `INSERT INTO quotes (symbol) VALUES ('by default')`)
	if err := db.Create(&Quote{Symbol: "by GORM", Valid: valid.Add(time.Hour)}).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Model(&Quote{}).Where("symbol = ?", "by GORM").Update("valid", valid).Error; err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, "SELECT count(DISTINCT valid) FROM quotes"); n != 1 {
		var texts []string
		db.Raw("SELECT quote(valid) FROM quotes").Scan(&texts)
		t.Errorf("the default and the bound time are stored as %q", texts)
	}
	q := db.Model(&Quote{}).Select("symbol").Where("valid = ?", valid)
	if err := db.Migrator().CreateView("valid_quotes", gorm.ViewOption{Query: q}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, "SELECT count(*) FROM valid_quotes"); n != 2 {
		var body string
		db.Raw("SELECT sql FROM sqlite_schema WHERE name = 'valid_quotes'").Scan(&body)
		t.Errorf("the view finds %d quotes, want 2: %s", n, body)
	}
}
