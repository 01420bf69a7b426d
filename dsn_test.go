package qlsqlite

import (
	"reflect"
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
		{"file:x.db?_stats_max=0", []string{"_stats_max", "1 or more", "_stats=off"}},
		{"file:x.db?_stats_max=lots", []string{"_stats_max", "whole number"}},
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

// TestEveryDSNParameterHasAnOption: each of qlsqlite's DSN parameters and
// its Option twin configure the database the same way, and no parameter is
// without a twin.
func TestEveryDSNParameterHasAnOption(t *testing.T) {
	twins := map[string]struct {
		value string
		opt   Option
	}{
		"_timeout":            {"2s", WithTimeout(2 * time.Second)},
		"_stmt_cache":         {"9", WithStmtCache(9)},
		"_defaults":           {"off", WithDefaults(false)},
		"_retry":              {"5", WithRetry(5)},
		"_breaker":            {"off", WithoutBreaker()},
		"_breaker_failures":   {"7", WithBreaker(BreakerConfig{Failures: 7})},
		"_breaker_delay":      {"3s", WithBreaker(BreakerConfig{Delay: 3 * time.Second})},
		"_breaker_successes":  {"4", WithBreaker(BreakerConfig{Successes: 4})},
		"_writer_gate":        {"off", WithWriterGate(false)},
		"_group_commit":       {"on", WithGroupCommit(true)},
		"_group_commit_max":   {"16", WithGroupCommitLimits(GroupCommitLimits{MaxStatements: 16})},
		"_group_commit_time":  {"2ms", WithGroupCommitLimits(GroupCommitLimits{MaxTime: 2 * time.Millisecond})},
		"_max_open":           {"8", WithPool(PoolConfig{MaxOpen: 8})},
		"_max_idle":           {"0", WithPool(PoolConfig{MaxIdle: -1})},
		"_min_open":           {"2", WithPool(PoolConfig{MinOpen: 2})},
		"_idle_timeout":       {"1m", WithPool(PoolConfig{IdleTimeout: time.Minute})},
		"_max_lifetime":       {"0", WithPool(PoolConfig{MaxLifetime: -1})},
		"_conn_timeout":       {"4s", WithPool(PoolConfig{ConnTimeout: 4 * time.Second})},
		"_wal_limit":          {"8MiB", WithWALLimit(8 << 20)},
		"_optimize":           {"off", WithoutOptimize()},
		"_optimize_every":     {"2h", WithOptimize(2 * time.Hour)},
		"_stats":              {"off", WithStats(false)},
		"_stats_max":          {"300", WithStatsMax(300)},
		"_integrity_every":    {"6h", WithIntegrityEvery(6 * time.Hour)},
		"_slow":               {"250ms", WithSlowQueryLog(250 * time.Millisecond)},
		"_slow_limit":         {"5/2s", WithSlowQueryLimit(5, 2*time.Second)},
		"_trace":              {"off", WithTracing(false)},
		"_metrics":            {"off", WithMetrics(false)},
		"_query_text":         {"on", WithQueryText(true)},
		"_sampler_attributes": {"off", WithSamplerAttributes(false)},
		"_history":            {"h.db", WithHistory("h.db")},
		"_history_retention":  {"48h", WithHistoryRetention(48 * time.Hour)},
		"_history_max_size":   {"64MiB", WithHistoryMaxSize(64 << 20)},
	}
	comparable := func(c config) config {
		c.now = nil // a func: never DeepEqual
		return c
	}
	for _, p := range dsnParams {
		twin, ok := twins[p.name]
		if !ok {
			t.Errorf("DSN parameter %s has no Option twin in this test", p.name)
			continue
		}
		fromDSN := defaultConfig()
		if _, err := parseDSN("file:x.db?"+p.name+"="+twin.value, &fromDSN); err != nil {
			t.Errorf("%s=%s: %v", p.name, twin.value, err)
			continue
		}
		fromOption := defaultConfig()
		twin.opt(&fromOption)
		if a, b := comparable(fromDSN), comparable(fromOption); !reflect.DeepEqual(a, b) {
			t.Errorf("%s=%s configures\n%+v\nits Option\n%+v", p.name, twin.value, a, b)
		}
		if reflect.DeepEqual(comparable(fromDSN), comparable(defaultConfig())) {
			t.Errorf("%s=%s changes nothing: pick a value that is not the default", p.name, twin.value)
		}
	}
}
