package qlsqlite

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// A dsnParam is one of qlsqlite's own DSN parameters.
type dsnParam struct {
	name string
	set  func(c *config, value string) error
}

// dsnParams lists qlsqlite's own DSN parameters. Each has an [Option] twin.
var dsnParams = [...]dsnParam{
	{"_timeout", func(c *config, v string) (err error) {
		c.timeout, err = parseDuration(v)
		return err
	}},
	{"_stmt_cache", func(c *config, v string) (err error) {
		c.stmtCache, err = parseCount(v)
		return err
	}},
	{"_defaults", func(c *config, v string) (err error) {
		c.defaults, err = parseBool(v)
		return err
	}},
	{"_retry", func(c *config, v string) (err error) {
		n, err := parseCount(v)
		c.retry = max(n, 1)
		return err
	}},
	{"_breaker", func(c *config, v string) error {
		on, err := parseBool(v)
		switch {
		case err != nil:
			return err
		case !on:
			c.breaker = nil
		case c.breaker == nil:
			b := BreakerConfig{}.withDefaults()
			c.breaker = &b
		}
		return nil
	}},
	{"_breaker_failures", func(c *config, v string) error {
		n, err := parseCount(v)
		return c.setBreaker(err, func(b *BreakerConfig) { b.Failures = n })
	}},
	{"_breaker_delay", func(c *config, v string) error {
		d, err := parseDuration(v)
		return c.setBreaker(err, func(b *BreakerConfig) { b.Delay = d })
	}},
	{"_breaker_successes", func(c *config, v string) error {
		n, err := parseCount(v)
		return c.setBreaker(err, func(b *BreakerConfig) { b.Successes = n })
	}},
	{"_writer_gate", func(c *config, v string) (err error) {
		c.writerGate, err = parseBool(v)
		return err
	}},
	{"_group_commit", func(c *config, v string) (err error) {
		c.group, err = parseBool(v)
		return err
	}},
	{"_group_commit_max", func(c *config, v string) error {
		n, err := parseCount(v)
		if err == nil && n < 1 {
			return fmt.Errorf("want a whole number of statements, 1 or more")
		}
		c.groupLimit.MaxStatements = n
		return err
	}},
	{"_group_commit_time", func(c *config, v string) error {
		d, err := parseDuration(v)
		if err == nil && d == 0 {
			return fmt.Errorf("want a duration above 0, like 10ms")
		}
		c.groupLimit.MaxTime = d
		return err
	}},
	{"_max_open", func(c *config, v string) (err error) {
		c.pool.MaxOpen, err = parsePoolCount(v)
		return err
	}},
	{"_max_idle", func(c *config, v string) (err error) {
		c.pool.MaxIdle, err = parsePoolCount(v)
		return err
	}},
	{"_min_open", func(c *config, v string) (err error) {
		c.pool.MinOpen, err = parsePoolCount(v)
		return err
	}},
	{"_idle_timeout", func(c *config, v string) (err error) {
		c.pool.IdleTimeout, err = parsePoolDuration(v)
		return err
	}},
	{"_max_lifetime", func(c *config, v string) (err error) {
		c.pool.MaxLifetime, err = parsePoolDuration(v)
		return err
	}},
	{"_wal_limit", func(c *config, v string) (err error) {
		c.walLimit, err = parseSize(v)
		return err
	}},
	{"_optimize", func(c *config, v string) (err error) {
		c.optimize, err = parseBool(v)
		return err
	}},
	{"_optimize_every", func(c *config, v string) (err error) {
		c.optimizeEvery, err = parseDuration(v)
		return err
	}},
	{"_conn_timeout", func(c *config, v string) (err error) {
		c.pool.ConnTimeout, err = parsePoolDuration(v)
		return err
	}},
	{"_stats", func(c *config, v string) (err error) {
		c.obs.stats, err = parseBool(v)
		return err
	}},
	{"_stats_max", func(c *config, v string) error {
		n, err := parseCount(v)
		if err != nil || n < 1 {
			return fmt.Errorf("want a whole number of fingerprints, 1 or more (_stats=off turns statistics off)")
		}
		c.obs.statsMax = n
		return nil
	}},
	{"_integrity_every", func(c *config, v string) (err error) {
		c.obs.integrityEvery, err = parseDuration(v)
		return err
	}},
	{"_history", func(c *config, v string) error {
		switch strings.ToLower(v) {
		case "":
			return fmt.Errorf("want a file name, or off")
		case "off", "no", "false", "0":
			c.obs.history, c.obs.historyOff = "", true
		default:
			c.obs.history, c.obs.historyOff = v, false
		}
		return nil
	}},
	{"_history_retention", func(c *config, v string) error {
		d, err := parseDuration(v)
		if err != nil || d < time.Hour {
			return fmt.Errorf("want a duration of an hour or more, like 336h (14 days)")
		}
		c.obs.historyRetention = d
		return nil
	}},
	{"_history_max_size", func(c *config, v string) (err error) {
		c.obs.historyMaxBytes, err = parseSize(v)
		return err
	}},
	{"_slow", func(c *config, v string) (err error) {
		c.obs.slow, err = parseDuration(v)
		return err
	}},
	{"_slow_limit", func(c *config, v string) (err error) {
		c.slowLimit, err = parseSlowLimit(v)
		return err
	}},
	{"_trace", func(c *config, v string) (err error) {
		c.obs.trace, err = parseBool(v)
		return err
	}},
	{"_metrics", func(c *config, v string) (err error) {
		c.obs.metrics, err = parseBool(v)
		return err
	}},
	{"_query_text", func(c *config, v string) (err error) {
		c.obs.queryText, err = parseBool(v)
		return err
	}},
	{"_sampler_attributes", func(c *config, v string) (err error) {
		c.obs.samplerAttrs, err = parseBool(v)
		return err
	}},
}

// parsePoolCount reads a pool size where 0 means none or no limit, as in
// database/sql (PoolConfig spells that -1: its zero means the default).
func parsePoolCount(v string) (int, error) {
	n, err := parseCount(v)
	if n == 0 {
		n = -1
	}
	return n, err
}

// parsePoolDuration reads a pool duration where 0 means never.
func parsePoolDuration(v string) (time.Duration, error) {
	d, err := parseDuration(v)
	if d == 0 {
		d = -1
	}
	return d, err
}

// setBreaker applies a breaker setting unless the breaker is off (then the
// setting is an error: it would do nothing).
func (c *config) setBreaker(err error, set func(*BreakerConfig)) error {
	if err != nil {
		return err
	}
	if c.breaker == nil {
		return fmt.Errorf("the breaker is off (_breaker=off)")
	}
	b := *c.breaker
	set(&b)
	b = b.withDefaults()
	c.breaker = &b
	return nil
}

// ncrucesParams are the underscore parameters the ncruces driver reads itself.
var ncrucesParams = [...]string{"_pragma", "_txlock", "_timefmt"}

// parseDSN removes qlsqlite's own parameters from dsn, applies them to cfg,
// and returns what is left for the ncruces driver.
//
// The query is filtered segment by segment, so that everything else
// (SQLite's URI parameters, the order of "_pragma"s) reaches ncruces as written.
func parseDSN(dsn string, cfg *config) (string, error) {
	if !strings.HasPrefix(dsn, "file:") {
		if i := strings.IndexByte(dsn, '?'); i >= 0 {
			key, _, _ := strings.Cut(dsn[i+1:], "=")
			return "", fmt.Errorf("qlsqlite: DSN parameter %q needs a file: URI, or SQLite takes it as part of the file name: write %q", key, "file:"+redactDSN(dsn))
		}
		return dsn, nil
	}

	base, query, ok := strings.Cut(dsn, "?")
	if !ok {
		return dsn, nil
	}
	query, fragment, hasFragment := strings.Cut(query, "#")

	kept := make([]string, 0, strings.Count(query, "&")+1)
	for segment := range strings.SplitSeq(query, "&") {
		if segment == "" {
			continue
		}
		rawKey, rawValue, _ := strings.Cut(segment, "=")
		key, err := url.QueryUnescape(rawKey)
		if err != nil {
			return "", fmt.Errorf("qlsqlite: malformed DSN parameter %q: %w", rawKey, err)
		}
		value, err := url.QueryUnescape(rawValue)
		if err != nil && (key == "_pragma" || isSecretParam(key, "")) {
			return "", fmt.Errorf("qlsqlite: malformed %%-escape in the value of DSN parameter %s", key) // the error would quote it
		}
		if err != nil {
			return "", fmt.Errorf("qlsqlite: malformed value for DSN parameter %s: %w", key, err)
		}
		if !strings.HasPrefix(key, "_") {
			kept = append(kept, segment) // one of SQLite's URI parameters
			continue
		}
		if isNcrucesParam(key) {
			if key == "_txlock" {
				cfg.txLock = value
			}
			if key == "_timefmt" && !cfg.hasTimeFmt { // ncruces reads the first
				cfg.timeFmt, cfg.hasTimeFmt = value, true
			}
			if key == "_pragma" {
				cfg.hasPragma = true
				if strings.HasPrefix(strings.ToLower(strings.TrimSpace(value)), "busy_timeout") {
					cfg.hasBusyTimeout = true
				}
			}
			kept = append(kept, segment)
			continue
		}
		p := findParam(key)
		if p == nil {
			alias, ok, err := translateMattn(key, value, cfg)
			if err != nil {
				return "", err
			}
			if ok {
				if alias != "" {
					kept = append(kept, alias)
				}
				continue
			}
			return "", fmt.Errorf("qlsqlite: unknown DSN parameter %q (qlsqlite knows %s; ncruces knows %s; of mattn/go-sqlite3's, qlsqlite accepts %s)",
				key, paramNames(), strings.Join(ncrucesParams[:], ", "), mattnNames())
		}
		if err := p.set(cfg, value); err != nil {
			return "", fmt.Errorf("qlsqlite: DSN parameter %s=%q: %w", key, value, err)
		}
	}

	out := base
	if len(kept) > 0 {
		out += "?" + strings.Join(kept, "&")
	}
	if hasFragment {
		out += "#" + fragment
	}
	return out, nil
}

func isNcrucesParam(key string) bool {
	for _, p := range ncrucesParams {
		if p == key {
			return true
		}
	}
	return false
}

func findParam(key string) *dsnParam {
	for i := range dsnParams {
		if dsnParams[i].name == key {
			return &dsnParams[i]
		}
	}
	return nil
}

func paramNames() string {
	names := make([]string, len(dsnParams))
	for i, p := range dsnParams {
		names[i] = p.name
	}
	return strings.Join(names, ", ")
}

// parseDuration accepts a Go duration ("250ms", "30s") or a whole number of
// milliseconds ("250"); "0" disables.
func parseDuration(v string) (time.Duration, error) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("want a duration of 0 or more, like 250ms or 30s")
		}
		return time.Duration(n) * time.Millisecond, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("want a duration of 0 or more, like 250ms or 30s")
	}
	return d, nil
}

// parseCount accepts a whole number, 0 or more.
func parseCount(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("want a whole number, 0 or more")
	}
	return n, nil
}

// parseBool accepts on/off as well as what strconv.ParseBool does.
func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "on", "yes":
		return true, nil
	case "off", "no":
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("want on or off")
	}
	return b, nil
}
