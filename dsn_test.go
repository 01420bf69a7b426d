package qlsqlite

import (
	"strings"
	"testing"
	"time"
)

func TestParseDSN(t *testing.T) {
	tests := []struct {
		dsn       string
		rest      string
		timeout   time.Duration
		stmtCache int
		defaults  bool
		pragma    bool
		busy      bool
	}{
		{dsn: ":memory:", rest: ":memory:", timeout: DefaultTimeout, stmtCache: DefaultStmtCache, defaults: true},
		{dsn: "trading.db", rest: "trading.db", timeout: DefaultTimeout, stmtCache: DefaultStmtCache, defaults: true},
		{dsn: "file:trading.db", rest: "file:trading.db", timeout: DefaultTimeout, stmtCache: DefaultStmtCache, defaults: true},
		{dsn: "file:trading.db?", rest: "file:trading.db", timeout: DefaultTimeout, stmtCache: DefaultStmtCache, defaults: true},
		{
			dsn:     "file:trading.db?mode=ro&_timeout=5s&_pragma=busy_timeout(100)&_stmt_cache=0&_txlock=deferred&_pragma=journal_mode(wal)&_defaults=off",
			rest:    "file:trading.db?mode=ro&_pragma=busy_timeout(100)&_txlock=deferred&_pragma=journal_mode(wal)",
			timeout: 5 * time.Second, stmtCache: 0, defaults: false, pragma: true, busy: true,
		},
		{
			dsn:     "file:/tmp/a%3Fb.db?_timeout=250&cache=shared#frag",
			rest:    "file:/tmp/a%3Fb.db?cache=shared#frag",
			timeout: 250 * time.Millisecond, stmtCache: DefaultStmtCache, defaults: true,
		},
		{
			dsn:     "file:x.db?_pragma=foreign_keys(1)&_timeout=0",
			rest:    "file:x.db?_pragma=foreign_keys(1)",
			timeout: 0, stmtCache: DefaultStmtCache, defaults: true, pragma: true,
		},
		{
			dsn:     "file:x.db?_pragma=Busy_Timeout%3D100&_defaults=on",
			rest:    "file:x.db?_pragma=Busy_Timeout%3D100",
			timeout: DefaultTimeout, stmtCache: DefaultStmtCache, defaults: true, pragma: true, busy: true,
		},
	}
	for _, tt := range tests {
		cfg := defaultConfig()
		rest, err := parseDSN(tt.dsn, &cfg)
		if err != nil {
			t.Errorf("parseDSN(%q): %v", tt.dsn, err)
			continue
		}
		if rest != tt.rest {
			t.Errorf("parseDSN(%q) passes %q to ncruces, want %q", tt.dsn, rest, tt.rest)
		}
		if cfg.timeout != tt.timeout || cfg.stmtCache != tt.stmtCache || cfg.defaults != tt.defaults ||
			cfg.hasPragma != tt.pragma || cfg.hasBusyTimeout != tt.busy {
			t.Errorf("parseDSN(%q) config = %+v", tt.dsn, cfg)
		}
	}
}

func TestParseDSNErrors(t *testing.T) {
	tests := []struct {
		dsn  string
		want []string // substrings of the error
	}{
		{"file:x.db?_timeot=5s", []string{`unknown DSN parameter "_timeot"`, "_timeout"}},
		{"file:x.db?_timeout=soon", []string{"_timeout", `"soon"`, "duration"}},
		{"file:x.db?_timeout=-1s", []string{"_timeout", "duration"}},
		{"file:x.db?_stmt_cache=-3", []string{"_stmt_cache", "whole number"}},
		{"file:x.db?_stmt_cache=many", []string{"_stmt_cache", "whole number"}},
		{"file:x.db?_defaults=maybe", []string{"_defaults", "on or off"}},
		{"file:x.db?_timeout=%zz", []string{"_timeout", "malformed"}},
		{"x.db?_timeout=5s", []string{`"_timeout"`, "file: URI", `"file:x.db?_timeout=5s"`}},
		{":memory:?_stmt_cache=1", []string{`"_stmt_cache"`, "file: URI"}},
	}
	for _, tt := range tests {
		cfg := defaultConfig()
		_, err := parseDSN(tt.dsn, &cfg)
		if err == nil {
			t.Errorf("parseDSN(%q): no error", tt.dsn)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("parseDSN(%q) = %q, want it to mention %s", tt.dsn, err, w)
			}
		}
	}
}

func TestOptionsWinOverDSN(t *testing.T) {
	c, err := NewConnector("file:x.db?_timeout=5s&_stmt_cache=7&_defaults=off",
		WithTimeout(time.Second), WithStmtCache(3), WithDefaults(true))
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.(*Connector).db.cfg
	if cfg.timeout != time.Second || cfg.stmtCache != 3 || !cfg.defaults {
		t.Errorf("config = %+v, want options to win", cfg)
	}
}

func TestNcrucesErrorsPassThrough(t *testing.T) {
	_, err := NewConnector("file:x.db?_txlock=sometimes")
	if err == nil || !strings.Contains(err.Error(), "_txlock") {
		t.Errorf("NewConnector with a bad _txlock = %v, want ncruces's error naming _txlock", err)
	}
}
