package gormql

import (
	"database/sql"
	"database/sql/driver"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// valuer is a driver.Valuer of its own.
type valuer struct{ s string }

func (v valuer) Value() (driver.Value, error) { return "v:" + v.s, nil }

type named string

// price is a named float type, as GORM's tests have (ageFloat).
type price float64

func openExplain(t *testing.T) *gorm.DB {
	t.Helper()
	db, err := gorm.Open(Open("file:"+filepath.Join(t.TempDir(), "explain.db")), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, _ := db.DB()
	t.Cleanup(func() { sqlDB.Close() })
	return db
}

// The SQL the migrator has SQLite run and store (DEFAULTs, views,
// constraints) writes each value as the literal SQLite reads as the value
// the driver binds: the same type (integral floats aside, which are written
// as GORM writes them) and an equal value.
func TestInlineMatchesBinding(t *testing.T) {
	db := openExplain(t)
	sqlDB, _ := db.DB()
	var nilInt *int
	seven := 7
	local := time.Date(2021, 10, 18, 19, 50, 9, 438_000_000, time.Local)
	values := []any{
		"plain", "it's", "with ? mark", "", "nul\x00byte", "ünïcode ✓",
		[]byte{0, 1, 0xfe}, []byte("text"), []byte{},
		true, false,
		0, -1, int8(-8), uint16(65535), int64(math.MaxInt64), int64(math.MinInt64), uint64(1 << 62),
		1.5, -0.25, 2.0, 1e21, 1e-7, float32(0.1), math.Inf(1), math.Inf(-1),
		price(0.12345678), price(1e-9),
		nil, nilInt, &seven,
		time.Date(2024, 1, 2, 3, 4, 5, 600, time.UTC),
		time.Date(2024, 1, 2, 3, 4, 5, 0, time.FixedZone("", 5*3600+1800)),
		local, &local, sql.NullTime{Time: local, Valid: true},
		sql.NullString{String: "x", Valid: true}, sql.NullString{}, sql.NullInt64{Int64: 9, Valid: true},
		valuer{"custom"}, named("named"),
	}
	for _, v := range values {
		lit := inlineSQL("?", v)
		integralFloat := false
		if f, ok := v.(float64); ok && f == math.Trunc(f) && !math.IsInf(f, 0) {
			integralFloat = true
		}
		var sameType, same bool
		q := fmt.Sprintf("SELECT typeof(%s) = typeof(?), (%s) IS ?", lit, lit)
		if err := sqlDB.QueryRow(q, v, v).Scan(&sameType, &same); err != nil {
			t.Errorf("%#v as %s: %v", v, lit, err)
			continue
		}
		if !same || !sameType && !integralFloat {
			t.Errorf("%#v written as %s: same type %v, same value %v", v, lit, sameType, same)
		}
	}

	// Only parameters are replaced: not a ? in a string, a name or a comment.
	sql := inlineSQL(`SELECT '?' AS "a?", ? /* ? */ AS b -- ?`, 42)
	var a string
	var b int
	if err := db.Raw(sql).Row().Scan(&a, &b); err != nil || a != "?" || b != 42 {
		t.Errorf("%s gave %q %d %v", sql, a, b, err)
	}
}

// Explain, which GORM's log and db.ToSQL show people, writes values as
// GORM's logger.ExplainSQL does: a time in GORM's layout, a named float
// type with six decimals; everything else as the driver binds it.
func TestExplainForPeople(t *testing.T) {
	db := openExplain(t)
	d := db.Dialector
	midnight := time.Date(2021, 10, 18, 0, 0, 0, 0, time.Local)
	at := time.Date(2021, 10, 18, 19, 50, 9, 438_000_000, time.FixedZone("", 2*3600))
	cases := []struct {
		v    any
		want string
	}{
		{midnight, "'2021-10-18 00:00:00'"},
		{at, "'2021-10-18 19:50:09.438'"},
		{&at, "'2021-10-18 19:50:09.438'"},
		{sql.NullTime{Time: at, Valid: true}, "'2021-10-18 19:50:09.438'"},
		{sql.NullTime{}, "NULL"},
		{(*time.Time)(nil), "NULL"},
		{price(0.12345678), "0.123457"},
		{price(2), "2.000000"},
		{&[]price{0.5}[0], "0.500000"},
		{0.12345678, "0.12345678"}, // a float64 in full, as GORM writes it
		{int8(8), "8"},
		{true, "true"},
		{"it's", "'it''s'"},
		{named("named"), "'named'"},
		{[]byte{0xca, 0xfe}, "X'CAFE'"},
	}
	for _, c := range cases {
		if got := d.Explain("x = ?", c.v); got != "x = "+c.want {
			t.Errorf("Explain of %#v: %s, want x = %s", c.v, got, c.want)
		}
	}

	// db.ToSQL is Explain of the statement GORM built.
	type Event struct {
		ID    uint
		At    time.Time
		Price price
	}
	got := db.ToSQL(func(tx *gorm.DB) *gorm.DB {
		return tx.Create(&Event{At: midnight, Price: 0.12345678})
	})
	if want := `('2021-10-18 00:00:00',0.123457)`; !strings.Contains(got, want) {
		t.Errorf("ToSQL: %s, want values %s", got, want)
	}
}
