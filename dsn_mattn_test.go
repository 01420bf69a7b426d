package qlsqlite

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// openPragmas opens a new database file with the DSN parameters query and
// returns the values of the pragmas asked for, read on one connection.
func openPragmas(t *testing.T, query string, pragmas ...string) map[string]string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mattn.db")
	db, err := sql.Open(DriverName, "file:"+filepath.ToSlash(path)+"?"+query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer db.Close()
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer conn.Close()
	got := map[string]string{}
	for _, p := range pragmas {
		var v string
		if err := conn.QueryRowContext(t.Context(), "PRAGMA "+p).Scan(&v); err != nil {
			t.Fatalf("%s: PRAGMA %s: %v", query, p, err)
		}
		got[p] = strings.ToLower(v)
	}
	return got
}

// TestMattnAliases: each of mattn/go-sqlite3's pragma parameters, by its
// long and its short name, sets its pragma on every connection, and the
// production defaults do not undo it.
func TestMattnAliases(t *testing.T) {
	tests := []struct {
		param, value, pragma, want string
	}{
		{"_auto_vacuum", "full", "auto_vacuum", "1"},
		{"_vacuum", "2", "auto_vacuum", "2"},
		{"_busy_timeout", "1234", "busy_timeout", "1234"},
		{"_cache_size", "-4000", "cache_size", "-4000"},
		{"_foreign_keys", "false", "foreign_keys", "0"}, // the defaults turn it on
		{"_fk", "off", "foreign_keys", "0"},
		{"_ignore_check_constraints", "yes", "ignore_check_constraints", "1"},
		{"_journal_mode", "DELETE", "journal_mode", "delete"}, // the defaults switch to WAL
		{"_journal", "truncate", "journal_mode", "truncate"},
		{"_locking_mode", "EXCLUSIVE", "locking_mode", "exclusive"},
		{"_locking", "normal", "locking_mode", "normal"},
		{"_query_only", "1", "query_only", "1"},
		{"_recursive_triggers", "on", "recursive_triggers", "1"},
		{"_rt", "1", "recursive_triggers", "1"},
		{"_secure_delete", "FAST", "secure_delete", "2"},
		{"_secure_delete", "1", "secure_delete", "1"},
		{"_synchronous", "NORMAL", "synchronous", "1"}, // the defaults set FULL (2)
		{"_sync", "0", "synchronous", "0"},
		{"_writable_schema", "1", "writable_schema", "1"},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.param] = true
		got := openPragmas(t, tt.param+"="+tt.value, tt.pragma)
		if got[tt.pragma] != tt.want {
			t.Errorf("%s=%s: PRAGMA %s = %s, want %s", tt.param, tt.value, tt.pragma, got[tt.pragma], tt.want)
		}
	}
	// defer_foreign_keys turns itself off at the end of every transaction
	// (the statistics upkeep of a new connection runs one): as with mattn,
	// it holds only until then. What reaches ncruces is checked.
	for _, name := range []string{"_defer_foreign_keys", "_defer_fk"} {
		covered[name] = true
		cfg := defaultConfig()
		rest, err := parseDSN("file:x.db?"+name+"=true", &cfg)
		if want := "file:x.db?_pragma=defer_foreign_keys%281%29"; err != nil || rest != want {
			t.Errorf("%s=true: %q, %v; want %q", name, rest, err, want)
		}
	}
	// case_sensitive_like cannot be read back: watch LIKE.
	for _, name := range []string{"_case_sensitive_like", "_cslike"} {
		covered[name] = true
		for value, want := range map[string]int{"1": 0, "0": 1} {
			db, err := sql.Open(DriverName, "file:"+filepath.ToSlash(filepath.Join(t.TempDir(), "like.db"))+"?"+name+"="+value)
			if err != nil {
				t.Fatal(err)
			}
			var n int
			if err := db.QueryRow(`SELECT 'a' LIKE 'A'`).Scan(&n); err != nil || n != want {
				t.Errorf("%s=%s: 'a' LIKE 'A' = %d (%v), want %d", name, value, n, err, want)
			}
			db.Close()
		}
	}
	for _, p := range mattnParams {
		for _, n := range p.names {
			if !covered[n] {
				t.Errorf("mattn parameter %s has no case in this test", n)
			}
		}
	}
}

// TestMattnDSNKeepsTheDefaults: the DSN a mattn user writes gets what it
// asks for and qlsqlite's defaults for the rest.
func TestMattnDSNKeepsTheDefaults(t *testing.T) {
	got := openPragmas(t, "_busy_timeout=5000&_journal_mode=WAL&_txlock=immediate&_mutex=no&_loc=UTC",
		"busy_timeout", "journal_mode", "synchronous", "foreign_keys")
	want := map[string]string{"busy_timeout": "5000", "journal_mode": "wal", "synchronous": "2", "foreign_keys": "1"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("pragmas %v, want %v", got, want)
	}
	// An alias for the busy timeout keeps it: the default's 5 s does not
	// replace it.
	if got := openPragmas(t, "_busy_timeout=250", "busy_timeout", "journal_mode"); got["busy_timeout"] != "250" || got["journal_mode"] != "wal" {
		t.Errorf("_busy_timeout=250: %v", got)
	}
	// _timeout keeps qlsqlite's meaning: the statement deadline.
	cfg := defaultConfig()
	if _, err := parseDSN("file:x.db?_timeout=5000", &cfg); err != nil || cfg.timeout.Seconds() != 5 || cfg.hasBusyTimeout {
		t.Errorf("_timeout=5000: timeout %v, busy timeout set %v, %v", cfg.timeout, cfg.hasBusyTimeout, err)
	}
}

func TestMattnDSNRewrite(t *testing.T) {
	cfg := defaultConfig()
	rest, err := parseDSN("file:x.db?mode=rwc&_fk=1&_timeout=2s&_journal_mode=wal&_mutex=full", &cfg)
	if err != nil {
		t.Fatal(err)
	}
	if want := "file:x.db?mode=rwc&_pragma=foreign_keys%281%29&_pragma=journal_mode%28WAL%29"; rest != want {
		t.Errorf("rest = %q, want %q", rest, want)
	}
	if cfg.hasPragma || !cfg.aliased("foreign_keys") || !cfg.aliased("journal_mode") || cfg.aliased("synchronous") {
		t.Errorf("config: hasPragma %v, aliases %v", cfg.hasPragma, cfg.aliasPragmas)
	}
}

func TestMattnDSNErrors(t *testing.T) {
	for dsn, want := range map[string][]string{
		"file:x.db?_journal_mode=fast":          {"_journal_mode", `"fast"`, "DELETE, TRUNCATE, PERSIST, MEMORY, WAL, OFF"},
		"file:x.db?_sync=9":                     {"_sync", "OFF, NORMAL, FULL, EXTRA, or 0 to 3"},
		"file:x.db?_fk=maybe":                   {"_fk", "boolean"},
		"file:x.db?_busy_timeout=-1":            {"_busy_timeout", "milliseconds"},
		"file:x.db?_busy_timeout=5s":            {"_busy_timeout", "milliseconds"},
		"file:x.db?_cache_size=big":             {"_cache_size", "whole number"},
		"file:x.db?_secure_delete=sometimes":    {"_secure_delete", "FAST"},
		"file:x.db?_cache_size=1);DROP TABLE t": {"_cache_size"},
		"file:x.db?_loc=auto":                   {"_loc", "UTC", "t.In(loc)"},
		"file:x.db?_auth_user=admin":            {"_auth_user", "drop it"},
		"file:x.db?_mutex=maybe":                {"_mutex", "no or full"},
		"file:x.db?_busy_timout=5000":           {`unknown DSN parameter "_busy_timout"`, "_busy_timeout", "_journal_mode"},
	} {
		cfg := defaultConfig()
		_, err := parseDSN(dsn, &cfg)
		if err == nil {
			t.Errorf("%s: no error", dsn)
			continue
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v, want it to mention %s", dsn, err, w)
			}
		}
	}
}
