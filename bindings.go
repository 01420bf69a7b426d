package qlsqlite

import (
	"context"
	"database/sql/driver"
	"time"
)

// Bindings left in place.
//
// ncruces clears a statement's bindings when its rows close
// (sqlite3_clear_bindings), so that nothing of one query's arguments leaks
// into the next. A cached statement's next run binds its arguments again,
// and when they are positional and as many as its parameters (what
// [database/sql] passes for "?" placeholders), every parameter is bound
// anew: clearing first is a call into SQLite, on every query, that changes
// nothing. So [cachedRows.Close] only resets the statement when the
// arguments were small values, and the statement's next run clears what is
// left first unless its own arguments bind every parameter. A named
// parameter, a missing argument, or a large string, blob or pointer (which
// would stay referenced until the next run) gets ncruces's behaviour.

// maxKeptBinding is the largest string or blob left bound after a query.
const maxKeptBinding = 256

// inputs returns the statement's [driver.StmtQueryContext] NumInput, read
// from SQLite once: the number of parameters, or -1 when any is named.
func (s *cachedStmt) inputs() int {
	if !s.inputsKnown {
		s.numInput, s.inputsKnown = s.NumInput(), true
	}
	return s.numInput
}

// QueryContext binds args and opens the statement's rows, clearing what a
// previous query left bound unless args replace all of it.
func (s *cachedStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	if err := s.clearStale(args); err != nil {
		return nil, err
	}
	return s.ncrucesStmt.QueryContext(ctx, args)
}

// ExecContext binds args and runs the statement, clearing what a previous
// query left bound unless args replace all of it. ncruces clears the
// bindings after an Exec itself.
func (s *cachedStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	if err := s.clearStale(args); err != nil {
		return nil, err
	}
	res, err := s.ncrucesStmt.ExecContext(ctx, args)
	// ncruces clears them after the run; an error may come before that.
	s.boundLeft = err != nil
	return res, err
}

// clearStale clears the bindings a previous query left, unless args bind
// every parameter again.
func (s *cachedStmt) clearStale(args []driver.NamedValue) error {
	if !s.boundLeft {
		return nil
	}
	if rebindsAll(args, s.inputs()) {
		return nil
	}
	s.boundLeft = false
	return s.ClearBindings()
}

// rebindsAll reports whether args bind each of n positional parameters.
func rebindsAll(args []driver.NamedValue, n int) bool {
	if n < 0 || len(args) != n {
		return false
	}
	for i := range args {
		if args[i].Name != "" || args[i].Ordinal != i+1 {
			return false
		}
	}
	return true
}

// keepable reports whether args may stay bound after their query: small
// values SQLite copied, nothing that pins a Go value or much memory.
func keepable(args []driver.NamedValue) bool {
	for i := range args {
		switch v := args[i].Value.(type) {
		case nil, int64, float64, bool, int, time.Time:
		case string:
			if len(v) > maxKeptBinding {
				return false
			}
		case []byte:
			if len(v) > maxKeptBinding {
				return false
			}
		default: // a pointer, JSON, a zero blob
			return false
		}
	}
	return true
}

// closeRows ends a query on s: the statement is reset (which reports the
// iteration's last error) and, unless keep, its bindings cleared.
func (s *cachedStmt) closeRows(rows ncrucesRows, keep bool) error {
	if !keep {
		s.boundLeft = false
		return rows.Close()
	}
	s.boundLeft = true
	return s.Reset()
}
