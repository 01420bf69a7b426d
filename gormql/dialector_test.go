package gormql_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
	ncruces "github.com/ncruces/go-sqlite3/driver"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"gorm.io/gorm"

	"github.com/quantumleap/qlsqlite"
	"github.com/quantumleap/qlsqlite/gormql"
)

func TestOpen(t *testing.T) {
	db, _ := open(t)
	if name := db.Dialector.Name(); name != "sqlite" {
		t.Errorf("Name() = %q", name)
	}
	sqlDB, _ := db.DB()
	if _, ok := sqlDB.Driver().(*qlsqlite.Driver); !ok {
		t.Errorf("GORM's pool uses %T, not the qlsqlite driver", sqlDB.Driver())
	}

	// qlsqlite's DSN errors reach the caller.
	_, err := gorm.Open(gormql.Open("file:"+filepath.Join(t.TempDir(), "x.db")+"?_timeot=5s"), &gorm.Config{})
	if err == nil || !strings.Contains(err.Error(), "_timeot") {
		t.Errorf("a misspelt DSN parameter: %v", err)
	}
	_, err = gorm.Open(gormql.New(gormql.Config{}), &gorm.Config{})
	if err == nil || !strings.Contains(err.Error(), "Config.DSN") {
		t.Errorf("no DSN and no Conn: %v", err)
	}
	// A database that cannot be opened fails gorm.Open, not the first query.
	_, err = gorm.Open(gormql.Open("file:"+filepath.Join(t.TempDir(), "missing", "x.db")), &gorm.Config{})
	if !errors.Is(err, sqlite3.CANTOPEN) {
		t.Errorf("a database in a missing directory: %v", err)
	}
}

func TestNewWithConnAndOptions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "test.db")
	sqlDB, err := qlsqlite.Open("file:"+path, qlsqlite.WithTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer sqlDB.Close()
	db, err := gorm.Open(gormql.New(gormql.Config{Conn: sqlDB}), &gorm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.AutoMigrate(&Product{}); err != nil {
		t.Fatal(err)
	}
	db.Create(&Product{Code: "a"})
	var n int
	if err := sqlDB.QueryRow("SELECT count(*) FROM products").Scan(&n); err != nil || n != 1 {
		t.Errorf("the *sql.DB given sees %d rows (%v)", n, err)
	}

	// qlsqlite's options through Config: its statement deadline stops a
	// GORM query that would never end.
	db2, err := gorm.Open(gormql.New(gormql.Config{
		DSN:     "file:" + path,
		Options: []qlsqlite.Option{qlsqlite.WithTimeout(300 * time.Millisecond)},
	}), &gorm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	sqlDB2, _ := db2.DB()
	defer sqlDB2.Close()
	err = db2.Raw("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c").Row().Scan(&n)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, sqlite3.INTERRUPT) {
		t.Errorf("an endless query under qlsqlite's 300ms deadline: %v", err)
	}
}

// GORM's statements run on qlsqlite's connections: SQLite's own trace of the
// pool's only connection sees the statements GORM built, and GORM's logger
// sees them too.
func TestStatementsGoThroughQLSQLite(t *testing.T) {
	sqlDB, err := qlsqlite.Open("file:" + filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer sqlDB.Close()
	sqlDB.SetMaxOpenConns(1)

	var mu sync.Mutex
	var traced []string
	conn, err := sqlDB.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	err = conn.Raw(func(dc any) error {
		return dc.(ncruces.Conn).Raw().Trace(sqlite3.TRACE_STMT, func(_ sqlite3.TraceEvent, _, sql any) error {
			mu.Lock()
			traced = append(traced, sql.(string))
			mu.Unlock()
			return nil
		})
	})
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}

	log := &sqlLog{}
	db, err := gorm.Open(gormql.New(gormql.Config{Conn: sqlDB}), &gorm.Config{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.AutoMigrate(&Product{}); err != nil {
		t.Fatal(err)
	}

	p := Product{Code: "traced", Price: 1}
	ops := []struct {
		name string
		run  func(*gorm.DB) *gorm.DB
	}{
		{"create", func(db *gorm.DB) *gorm.DB { return db.Create(&p) }},
		{"query", func(db *gorm.DB) *gorm.DB { return db.Where("code = ?", "traced").First(&Product{}) }},
		{"update", func(db *gorm.DB) *gorm.DB { return db.Model(&Product{}).Where("code = ?", "traced").Update("price", 2) }},
		{"raw", func(db *gorm.DB) *gorm.DB {
			return db.Exec("UPDATE products SET stock = ? WHERE code = ?", 1, "traced")
		}},
		{"delete", func(db *gorm.DB) *gorm.DB { return db.Where("code = ?", "traced").Delete(&Product{}) }},
	}
	for _, op := range ops {
		// The SQL and values GORM builds for the operation...
		dry := op.run(db.Session(&gorm.Session{DryRun: true})).Statement
		wantSQL := dry.SQL.String()
		wantLog := db.Dialector.Explain(wantSQL, dry.Vars...)

		mu.Lock()
		traced = nil
		mu.Unlock()
		log.take()
		if err := op.run(db).Error; err != nil {
			t.Fatalf("%s: %v", op.name, err)
		}
		// ...are what SQLite ran on qlsqlite's connection,
		mu.Lock()
		ran := slices.Contains(traced, wantSQL)
		mu.Unlock()
		if !ran {
			t.Errorf("%s: SQLite did not trace %q; it traced %q", op.name, wantSQL, traced)
		}
		// ...and what GORM's logger reported.
		if logged := log.take(); !slices.Contains(logged, wantLog) {
			t.Errorf("%s: GORM did not log %q; it logged %q", op.name, wantLog, logged)
		}
	}
}

// qlsqlite's statistics and spans see GORM's statements: each operation
// GORM runs is a fingerprint in qlsqlite.Stats, and a span of the tracer
// provider the database was opened with.
func TestStatisticsAndSpansSeeGORM(t *testing.T) {
	recorder := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	defer tp.Shutdown(context.Background())
	sqlDB, err := qlsqlite.Open("file:"+filepath.Join(t.TempDir(), "stats.db"), qlsqlite.WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	defer sqlDB.Close()
	db, err := gorm.Open(gormql.New(gormql.Config{Conn: sqlDB}), &gorm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.AutoMigrate(&Product{}); err != nil {
		t.Fatal(err)
	}
	if err := qlsqlite.ResetStats(sqlDB); err != nil {
		t.Fatal(err)
	}
	before := len(recorder.Ended())
	for i := range 3 {
		if err := db.Create(&Product{Code: fmt.Sprint("p", i), Price: float64(i)}).Error; err != nil {
			t.Fatal(err)
		}
	}
	var got []Product
	if err := db.Where("price >= ?", 1).Find(&got).Error; err != nil || len(got) != 2 {
		t.Fatalf("find: %d products, %v", len(got), err)
	}

	snap, err := qlsqlite.Stats(sqlDB)
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]uint64{}
	for _, q := range snap.Queries {
		switch {
		case strings.HasPrefix(q.Fingerprint.Text, `INSERT INTO "products"`):
			calls["insert"] += q.Calls
		case strings.HasPrefix(q.Fingerprint.Text, `SELECT * FROM "products" WHERE price >=`):
			calls["select"] += q.Calls
		}
	}
	if calls["insert"] != 3 || calls["select"] != 1 {
		t.Errorf("qlsqlite.Stats saw GORM's statements %v times; fingerprints: %v", calls, snap.Queries)
	}
	spans := recorder.Ended()[before:]
	names := map[string]int{}
	for _, s := range spans {
		names[strings.Fields(s.Name())[0]]++
	}
	if names["INSERT"] < 3 || names["SELECT"] < 1 {
		t.Errorf("spans of GORM's statements: %v", names)
	}
}
