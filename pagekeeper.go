package qlsqlite

import (
	"fmt"
	"time"

	"github.com/quantumleap/qlsqlite/internal/page"
)

// What the Maintenance page and the overview's WAL check show of this
// process's WAL keeper ("_wal_limit", [WALStats]) and group commit
// ([GroupCommitStats]). Pages of another process's database ("qlsqlite
// serve") have neither: they read the file and the history only.

// live reports whether the pages show this process's own database, whose
// keeper and group commit are the ones that write to it.
func (s *pageSource) live() bool { return !s.stored && s.d != nil }

// walKeeperRun describes the WAL keeper: how it keeps the log under its
// limit, and whether a reader starves it.
func (s *pageSource) walKeeperRun() (page.Run, bool) {
	if !s.live() || s.d.wal == nil {
		return page.Run{}, false
	}
	w := s.d.walStats()
	r := page.Run{Name: "WAL keeper", At: w.LastTruncate, Status: page.OK}
	if w.Limit == 0 {
		r.Status = page.Unknown
		r.Detail = "Off (_wal_limit=0): SQLite's own auto-checkpoint runs, and a long or continuous reader can make the WAL grow without bound."
		return r, true
	}
	r.Detail = fmt.Sprintf("Keeps the WAL under %s (_wal_limit): %d PASSIVE and %d TRUNCATE checkpoints (%d forced, %d outlasted by readers); writers paused %v in all, %v at the longest; %d commits waited %v for a reset; the largest WAL seen %s.",
		fmtSize(w.Limit), w.Passive, w.Truncate, w.Forced, w.Busy,
		w.Paused.Round(time.Millisecond), w.LongestPause.Round(time.Millisecond),
		w.Waits, w.Waited.Round(time.Millisecond), fmtSize(w.MaxBytes))
	if w.Starved {
		r.Status = page.Failing
		r.Detail = fmt.Sprintf("Starved since %s: the WAL is %s (limit %s) and even a pause of the writers did not reset it: a read transaction that never ends (a long query, rows not closed) keeps every checkpoint from completing. ",
			w.StarvedSince.Format(time.RFC3339), fmtSize(w.Bytes), fmtSize(w.Limit)) + r.Detail
	}
	return r, true
}

// groupCommitRun describes group commit, when it is on.
func (s *pageSource) groupCommitRun() (page.Run, bool) {
	if !s.live() {
		return page.Run{}, false
	}
	g := s.d.group.snapshot()
	if !g.Enabled {
		return page.Run{}, false
	}
	r := page.Run{Name: "group commit", Status: page.OK}
	r.Detail = fmt.Sprintf("%d groups ran %d autocommit writes (%d alone), %.1f a group on average, %d at most (limits: %d statements, %v); queued p50 %v, p95 %v, p99 %v; %d withdrawn before they ran, %d failed on their own.",
		g.Groups, g.Statements, g.Alone, g.MeanSize, g.MaxSize, g.MaxStatements, g.MaxTime,
		g.P50Queued.Round(time.Microsecond), g.P95Queued.Round(time.Microsecond), g.P99Queued.Round(time.Microsecond),
		g.Withdrawn, g.Failed)
	return r, true
}

// keeperCheck turns the overview's WAL check failing when this process's
// keeper reports it starved: it knows at once what the history sees only
// after [starvationWindow].
func (s *pageSource) keeperCheck(c page.Check) page.Check {
	if !s.live() || s.d.wal == nil {
		return c
	}
	w := s.d.walStats()
	if w.Starved {
		c.Status = page.Failing
		c.Detail = fmt.Sprintf("The WAL keeper is starved since %s: a read transaction that never ends keeps the WAL (%s, limit %s) from being reset.",
			w.StarvedSince.Format(time.RFC3339), fmtSize(w.Bytes), fmtSize(w.Limit))
	} else if w.Limit > 0 && c.Status == page.OK {
		c.Detail = fmt.Sprintf("The WAL keeper keeps the write-ahead log under %s (_wal_limit).", fmtSize(w.Limit))
	}
	return c
}
