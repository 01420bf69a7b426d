package qlsqlite

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
)

// This file bounds the slow-query log. Under overload nearly every
// statement is slow, and one record per statement (400 goroutines, each a
// few records a second) floods the log when it is least readable. Each
// database logs at most n slow-query records per period; the records past
// that are counted, and the next record that is logged carries the count
// ("suppressed"), as does a last record when the database closes.

// Defaults of the slow-query log's rate limit ("_slow_limit").
const (
	// DefaultSlowQueryLimit is how many slow-query records a database
	// logs per [DefaultSlowQueryPeriod] at most.
	DefaultSlowQueryLimit = 10
	// DefaultSlowQueryPeriod is the period of the rate limit.
	DefaultSlowQueryPeriod = time.Second
)

// slowLimit is the slow-query log's rate limit: at most n records per
// period; n == 0 means no limit.
type slowLimit struct {
	n      int
	period time.Duration
}

func defaultSlowLimit() slowLimit {
	return slowLimit{n: DefaultSlowQueryLimit, period: DefaultSlowQueryPeriod}
}

// WithSlowQueryLimit bounds the slow-query log (see [WithSlowQueryLog]):
// each database logs at most n records per period (DSN: "_slow_limit=n/period",
// or "_slow_limit=n" for n a second; default [DefaultSlowQueryLimit] per
// [DefaultSlowQueryPeriod]). The records past that are not logged but
// counted: the next record logged has the attribute "suppressed" with the
// number left out since the previous one, and closing the database logs
// a last record, "qlsqlite: slow queries suppressed", if any were left out
// since. n of 0 (DSN: "_slow_limit=0" or "off") logs every slow call; a
// period of 0 or less is taken as [DefaultSlowQueryPeriod]. The periods are
// read from the database's clock ([WithClock]).
func WithSlowQueryLimit(n int, period time.Duration) Option {
	return func(c *config) {
		if period <= 0 {
			period = DefaultSlowQueryPeriod
		}
		c.slowLimit = slowLimit{n: max(n, 0), period: period}
	}
}

// parseSlowLimit reads "_slow_limit": "10/1s", "10/500ms", "10" (a
// second), "0" or "off" (no limit).
func parseSlowLimit(v string) (slowLimit, error) {
	bad := fmt.Errorf("want records per period, like 10/1s or 100/1m (10 alone: per second), or 0 or off for no limit")
	if on, err := parseBool(v); err == nil && !on {
		return slowLimit{period: DefaultSlowQueryPeriod}, nil
	}
	count, per, hasPer := strings.Cut(v, "/")
	n, err := strconv.Atoi(count)
	if err != nil || n < 0 {
		return slowLimit{}, bad
	}
	period := DefaultSlowQueryPeriod
	if hasPer {
		if period, err = time.ParseDuration(per); err != nil || period <= 0 {
			return slowLimit{}, bad
		}
	}
	return slowLimit{n: n, period: period}, nil
}

// slowLimiter counts a database's slow-query records against its limit, in
// fixed periods that start with the first record after the previous period
// ended.
type slowLimiter struct {
	mu         sync.Mutex
	start      time.Time // when the current period started
	logged     int       // records logged in the current period
	suppressed int64     // records left out since the last one logged
}

// admit reports whether a record may be logged at now, and how many were
// left out before it (reported by that record).
func (l *slowLimiter) admit(lim slowLimit, now time.Time) (ok bool, suppressed int64) {
	if lim.n == 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.start.IsZero() || now.Sub(l.start) >= lim.period || now.Before(l.start) {
		l.start, l.logged = now, 0
	}
	if l.logged >= lim.n {
		l.suppressed++
		return false, 0
	}
	l.logged++
	suppressed, l.suppressed = l.suppressed, 0
	return true, suppressed
}

// take returns the records left out since the last one logged, and
// forgets them.
func (l *slowLimiter) take() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.suppressed
	l.suppressed = 0
	return n
}

// slowLogger returns the logger of the slow-query log.
func (o *observability) slowLogger() *slog.Logger {
	if o.cfg.logger != nil {
		return o.cfg.logger
	}
	return slog.Default()
}

// flushSlow logs the count of slow-query records left out since the last
// one logged, if any; the database calls it when it closes.
func (o *observability) flushSlow() {
	if n := o.db.slowLog.take(); n > 0 {
		o.slowLogger().LogAttrs(context.Background(), slog.LevelWarn, "qlsqlite: slow queries suppressed",
			slog.Int64("suppressed", n))
	}
}

// oneLine renders a plan on one line, its steps in order separated by
// "; ": a log record's attribute has no line breaks to keep.
func (p Plan) oneLine() string {
	steps := make([]string, len(p.Steps))
	for i, s := range p.Steps {
		steps[i] = s.Detail
	}
	return strings.Join(steps, "; ")
}
