package qlsqlite

import (
	"database/sql"
	"path/filepath"
	"testing"
)

func TestOptimizeOnOpen(t *testing.T) {
	for _, tt := range []struct {
		params string
		want   bool
	}{
		{"", true},
		{"?_optimize=off", false},
	} {
		path := filepath.Join(t.TempDir(), "opt.db")
		seed, err := sql.Open("sqlite3", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		_, err = seed.Exec(`CREATE TABLE t (a, b); CREATE INDEX t_a ON t (a);
			WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n LIMIT 5000)
			INSERT INTO t SELECT i % 50, i FROM n`)
		seed.Close()
		if err != nil {
			t.Fatal(err)
		}

		db, err := sql.Open(DriverName, "file:"+path+tt.params)
		if err != nil {
			t.Fatal(err)
		}
		var stats int
		err = db.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE name = 'sqlite_stat1'`).Scan(&stats)
		if err == nil && stats > 0 {
			err = db.QueryRow(`SELECT count(*) FROM sqlite_stat1 WHERE tbl = 't'`).Scan(&stats)
		}
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := stats > 0; got != tt.want {
			t.Errorf("%q: statistics gathered on open: %v, want %v", tt.params, got, tt.want)
		}
	}
}

func TestOptimizeNow(t *testing.T) {
	db, err := Open("file:"+filepath.Join(t.TempDir(), "now.db"), WithoutOptimize())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE t (a); CREATE INDEX t_a ON t (a);
		WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n LIMIT 5000) INSERT INTO t SELECT i % 7 FROM n`); err != nil {
		t.Fatal(err)
	}
	d := db.Driver().(*Driver).db
	d.cfg.optimize = true
	if err := d.optimizeNow(); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_stat1 WHERE tbl = 't'`).Scan(&n); err != nil || n == 0 {
		t.Errorf("after PRAGMA optimize: %d rows of statistics (%v)", n, err)
	}
}

// The upkeep gives the session back as it found it.
func TestOptimizeLeavesSessionAlone(t *testing.T) {
	db, err := sql.Open(DriverName, "file:"+filepath.Join(t.TempDir(), "alone.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var limit, busy int
	if err := db.QueryRow(`SELECT (SELECT analysis_limit FROM pragma_analysis_limit), (SELECT timeout FROM pragma_busy_timeout)`).Scan(&limit, &busy); err != nil {
		t.Fatal(err)
	}
	if limit != 0 || busy != int(DefaultBusyTimeout.Milliseconds()) {
		t.Errorf("analysis_limit=%d busy_timeout=%d after open", limit, busy)
	}
}
