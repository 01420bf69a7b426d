package qlsqlite

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// This file translates the DSN parameters of github.com/mattn/go-sqlite3
// into what the ncruces driver understands, so that a program moving over
// from mattn changes only the driver name: "file:app.db?_busy_timeout=5000&_journal_mode=WAL"
// keeps working.
//
// Each of mattn's pragma parameters becomes one ncruces "_pragma" segment,
// in place, with its value checked against what mattn accepts (never
// spliced in unchecked). Unlike a "_pragma" of the DSN's own, an alias
// does not turn the production defaults off: the defaults still set every
// pragma that no alias set (see [database.setup]).
//
// Three of mattn's parameters differ:
//   - "_timeout" (mattn: the busy timeout, in ms) keeps qlsqlite's meaning,
//     the statement deadline; mattn's other name for the busy timeout,
//     "_busy_timeout", is the alias to use;
//   - "_loc" is accepted only as "UTC", which is what ncruces does anyway
//     with a time that has no zone; other values are an error that says how
//     to convert;
//   - "_mutex" is accepted and ignored: database/sql never uses a
//     connection from two goroutines at once, and ncruces's connections
//     need no mutex of SQLite's.
//
// "_txlock" is the same parameter in both drivers, with the same values.

// A mattnParam is a parameter of mattn/go-sqlite3 that sets a pragma.
type mattnParam struct {
	names  []string                     // the parameter, then its short alias, if any
	pragma string                       // the pragma it sets
	value  func(string) (string, error) // the pragma's value, checked
}

// mattnParams lists the pragma parameters of mattn/go-sqlite3
// (https://github.com/mattn/go-sqlite3#connection-string).
var mattnParams = [...]mattnParam{
	{[]string{"_auto_vacuum", "_vacuum"}, "auto_vacuum", mattnEnum(true, "NONE", "FULL", "INCREMENTAL")},
	{[]string{"_busy_timeout"}, "busy_timeout", mattnMillis},
	{[]string{"_cache_size"}, "cache_size", mattnInt},
	{[]string{"_case_sensitive_like", "_cslike"}, "case_sensitive_like", mattnBool},
	{[]string{"_defer_foreign_keys", "_defer_fk"}, "defer_foreign_keys", mattnBool},
	{[]string{"_foreign_keys", "_fk"}, "foreign_keys", mattnBool},
	{[]string{"_ignore_check_constraints"}, "ignore_check_constraints", mattnBool},
	{[]string{"_journal_mode", "_journal"}, "journal_mode", mattnEnum(false, "DELETE", "TRUNCATE", "PERSIST", "MEMORY", "WAL", "OFF")},
	{[]string{"_locking_mode", "_locking"}, "locking_mode", mattnEnum(false, "NORMAL", "EXCLUSIVE")},
	{[]string{"_query_only"}, "query_only", mattnBool},
	{[]string{"_recursive_triggers", "_rt"}, "recursive_triggers", mattnBool},
	{[]string{"_secure_delete"}, "secure_delete", mattnSecureDelete},
	{[]string{"_synchronous", "_sync"}, "synchronous", mattnEnum(true, "OFF", "NORMAL", "FULL", "EXTRA")},
	{[]string{"_writable_schema"}, "writable_schema", mattnBool},
}

// findMattn returns the mattn parameter named key, or nil.
func findMattn(key string) *mattnParam {
	for i := range mattnParams {
		for _, n := range mattnParams[i].names {
			if n == key {
				return &mattnParams[i]
			}
		}
	}
	return nil
}

// mattnNames lists the mattn parameters qlsqlite accepts, for messages.
func mattnNames() string {
	var names []string
	for _, p := range mattnParams {
		names = append(names, p.names...)
	}
	return strings.Join(append(names, "_loc=UTC", "_mutex"), ", ")
}

// translateMattn handles key if it is one of mattn/go-sqlite3's
// parameters: it returns the ncruces segment that replaces it ("" when
// the parameter is dropped) and records in cfg which pragma it set.
// handled is false for any other key.
func translateMattn(key, value string, cfg *config) (segment string, handled bool, err error) {
	switch key {
	case "_mutex":
		switch strings.ToLower(value) {
		case "no", "full":
			return "", true, nil
		}
		return "", true, fmt.Errorf("qlsqlite: DSN parameter _mutex=%q (mattn/go-sqlite3's): want no or full; qlsqlite ignores it either way", value)
	case "_loc":
		if strings.EqualFold(value, "UTC") {
			return "", true, nil
		}
		return "", true, fmt.Errorf("qlsqlite: DSN parameter _loc=%q (mattn/go-sqlite3's time zone for times stored without one) has no counterpart: "+
			"the ncruces driver reads such times as UTC, as _loc=UTC does; drop the parameter and convert after scanning (t.In(loc)), or store times with their zone", value)
	}
	if strings.HasPrefix(key, "_auth") {
		return "", true, fmt.Errorf("qlsqlite: DSN parameter %s is mattn/go-sqlite3's user authentication, which SQLite has retired and the ncruces driver does not have: drop it", key)
	}
	p := findMattn(key)
	if p == nil {
		return "", false, nil
	}
	v, err := p.value(value)
	if err != nil {
		return "", true, fmt.Errorf("qlsqlite: DSN parameter %s=%q (mattn/go-sqlite3's, for PRAGMA %s): %w", key, value, p.pragma, err)
	}
	cfg.aliasPragmas = append(cfg.aliasPragmas, p.pragma)
	if p.pragma == "busy_timeout" {
		cfg.hasBusyTimeout = true
	}
	return "_pragma=" + url.QueryEscape(p.pragma+"("+v+")"), true, nil
}

// aliased reports whether a mattn parameter of the DSN set pragma.
func (c *config) aliased(pragma string) bool {
	for _, p := range c.aliasPragmas {
		if p == pragma {
			return true
		}
	}
	return false
}

// mattnBool accepts what mattn does for a boolean: 1, 0, true, false,
// yes, no, on, off, in any case.
func mattnBool(v string) (string, error) {
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on":
		return "1", nil
	case "0", "false", "no", "off":
		return "0", nil
	}
	return "", fmt.Errorf("want a boolean: 1, 0, true, false, yes, no, on or off")
}

// mattnMillis accepts a whole number of milliseconds, 0 or more.
func mattnMillis(v string) (string, error) {
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil || n < 0 {
		return "", fmt.Errorf("want a whole number of milliseconds, 0 or more")
	}
	return strconv.FormatInt(n, 10), nil
}

// mattnInt accepts a whole number of either sign (a negative cache_size is
// in KiB).
func mattnInt(v string) (string, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return "", fmt.Errorf("want a whole number (pages, or KiB when negative)")
	}
	return strconv.FormatInt(n, 10), nil
}

// mattnEnum accepts one of names, in any case, and, if numbered, its
// position (0, 1, ...), as SQLite numbers them.
func mattnEnum(numbered bool, names ...string) func(string) (string, error) {
	return func(v string) (string, error) {
		for i, n := range names {
			if strings.EqualFold(v, n) || numbered && v == strconv.Itoa(i) {
				return n, nil
			}
		}
		if numbered {
			return "", fmt.Errorf("want one of %s, or 0 to %d", strings.Join(names, ", "), len(names)-1)
		}
		return "", fmt.Errorf("want one of %s", strings.Join(names, ", "))
	}
}

// mattnSecureDelete accepts a boolean or FAST.
func mattnSecureDelete(v string) (string, error) {
	if strings.EqualFold(v, "fast") {
		return "FAST", nil
	}
	if b, err := mattnBool(v); err == nil {
		return b, nil
	}
	return "", fmt.Errorf("want a boolean or FAST")
}
