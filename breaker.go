package qlsqlite

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"
)

// Defaults of the circuit breaker (DSN: "_breaker", "_breaker_failures",
// "_breaker_delay", "_breaker_successes").
const (
	DefaultBreakerFailures  = 5                // consecutive infrastructure failures that open it
	DefaultBreakerDelay     = 30 * time.Second // how long it stays open before letting a trial through
	DefaultBreakerSuccesses = 3                // consecutive successes in half-open state that close it
)

// ErrCircuitOpen is matched (with errors.Is) by the error of a call refused
// because the database's circuit breaker is open. The error also wraps the
// failure that opened it.
var ErrCircuitOpen = errors.New("qlsqlite: circuit breaker open")

// BreakerConfig configures a database's circuit breaker. The breaker counts
// infrastructure failures only (I/O errors, a full disk, a file that cannot be
// opened, corruption, a file that is not a database, a database still locked
// after every retry), never errors of the statement itself (syntax,
// constraints).
type BreakerConfig struct {
	Failures  int           // consecutive failures that open it; default 5
	Delay     time.Duration // time open before a trial call goes through; default 30s
	Successes int           // consecutive successful trials that close it; default 3
}

// BreakerState is the state of a circuit breaker.
type BreakerState string

// The states of a circuit breaker.
const (
	BreakerClosed   BreakerState = "closed"    // calls go through
	BreakerOpen     BreakerState = "open"      // calls fail fast with ErrCircuitOpen
	BreakerHalfOpen BreakerState = "half-open" // trial calls go through
	BreakerOff      BreakerState = "off"       // no breaker
)

// BreakerStatus reports a database's circuit breaker.
type BreakerStatus struct {
	State     BreakerState
	OpenedAt  time.Time // when it last opened
	LastCause error     // the failure that last opened it
}

// breaker is a database's circuit breaker: failsafe-go's count-based breaker
// for the failure and success thresholds, with the open delay measured on
// qlsqlite's clock so that tests control it.
//
// Every call the breaker admits while half-open is a trial and holds one of
// failsafe-go's permits (as many as Successes); it gives the permit back
// with its outcome, exactly once ([breaker.done]), however it ends: a
// success, a failure, a deadline. Calls admitted while closed are no trials:
// their failures count, and their successes only reset the run of
// consecutive failures.
//
// The call path stays cheap while the breaker is closed and nothing fails:
// one atomic load to admit a call, and no lock to record a success unless a
// failure was recorded since the last one.
type breaker struct {
	cb    circuitbreaker.CircuitBreaker[any]
	rules errorRules // the database's
	delay time.Duration
	now   func() time.Time

	notClosed atomic.Bool   // open or half-open: admit through cb
	dirty     atomic.Bool   // a failure was recorded since the last success
	period    atomic.Uint64 // counts half-open periods: a trial belongs to one

	mu       sync.Mutex
	openedAt time.Time
	cause    error
}

// trial identifies a call admitted as a trial while the breaker was
// half-open: the half-open period it belongs to. Zero: no trial.
type trial uint64

func newBreaker(cfg BreakerConfig, now func() time.Time, rules errorRules) *breaker {
	b := &breaker{delay: cfg.Delay, now: now, rules: rules}
	b.cb = circuitbreaker.NewBuilder[any]().
		WithFailureThreshold(uint(cfg.Failures)).
		WithSuccessThreshold(uint(cfg.Successes)).
		WithDelay(100 * 365 * 24 * time.Hour). // half-opening is driven by b.now, in allow
		OnOpen(func(circuitbreaker.StateChangedEvent) {
			b.notClosed.Store(true)
			b.mu.Lock()
			b.openedAt = b.now()
			b.mu.Unlock()
		}).
		OnHalfOpen(func(circuitbreaker.StateChangedEvent) { b.period.Add(1) }).
		OnClose(func(circuitbreaker.StateChangedEvent) { b.notClosed.Store(false) }).
		Build()
	return b
}

// tripped reports whether the breaker is open or half-open, so that calls
// must ask [breaker.allow]. A nil breaker never trips.
func (b *breaker) tripped() bool { return b != nil && b.notClosed.Load() }

// allow admits a call, or returns why not. A call admitted while the
// breaker is half-open is a trial, which the caller gives back with
// [breaker.done].
func (b *breaker) allow() (trial, error) {
	if !b.tripped() {
		return 0, nil
	}
	if b.cb.IsOpen() {
		b.mu.Lock()
		due := b.now().Sub(b.openedAt) >= b.delay
		b.mu.Unlock()
		if due {
			b.cb.HalfOpen()
		}
	}
	period := b.period.Load()
	if b.cb.TryAcquirePermit() {
		if b.cb.IsClosed() {
			return 0, nil // closed in between: no trial
		}
		return trial(period), nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	e := &circuitOpenError{classOf: classOf{Connection}, cause: b.cause, retryIn: b.delay - b.now().Sub(b.openedAt)}
	if b.cb.IsHalfOpen() {
		e.retryIn, e.trials = 0, true
	}
	return 0, e
}

// refuse is allow for work that is no trial of the storage (opening a
// connection): it fails fast while the breaker is open and its delay runs,
// and takes no trial permit.
func (b *breaker) refuse() error {
	if !b.tripped() || !b.cb.IsOpen() {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if wait := b.delay - b.now().Sub(b.openedAt); wait > 0 {
		return &circuitOpenError{classOf: classOf{Connection}, cause: b.cause, retryIn: wait}
	}
	return nil
}

// done records the outcome of a call; t is the trial allow gave it (zero
// for calls admitted while closed, and for work that took no permit).
//
// Infrastructure failures and work still locked out after every retry are
// failures; errors of the statement itself (syntax, constraints) are
// successes: the storage answered. A timeout or cancellation says nothing
// about the storage and counts as nothing, except for a trial, which had to
// succeed to show that the storage is back: a trial that timed out failed.
func (b *breaker) done(t trial, err error) {
	if b == nil {
		return
	}
	failed := err != nil && isStorageFailure(b.rules, err)
	inconclusive := err != nil && !failed && classify(b.rules, err) == Performance
	if failed {
		b.mu.Lock()
		b.cause = err
		b.mu.Unlock()
		b.dirty.Store(true)
	}
	if t != 0 {
		switch {
		case trial(b.period.Load()) != t || !b.cb.IsHalfOpen():
			// The trial's half-open period is over: its permit went with it.
		case failed || inconclusive:
			b.cb.RecordFailure()
		default:
			b.cb.RecordSuccess()
		}
		return
	}
	switch {
	case failed:
		b.cb.RecordFailure()
	case inconclusive:
	case b.notClosed.Load():
		// A call admitted before the breaker opened: only trials count now.
	case b.dirty.Swap(false):
		b.cb.RecordSuccess()
	}
}

// isStorageFailure reports whether err is a failure of the storage, or work
// still locked out after every retry.
func isStorageFailure(rules errorRules, err error) bool {
	var exhausted *retriesError
	return rules.infrastructure(err) || errors.As(err, &exhausted)
}

// status reports the breaker's state.
func (b *breaker) status() BreakerStatus {
	if b == nil {
		return BreakerStatus{State: BreakerOff}
	}
	s := BreakerStatus{State: BreakerClosed}
	switch {
	case b.cb.IsOpen():
		s.State = BreakerOpen
	case b.cb.IsHalfOpen():
		s.State = BreakerHalfOpen
	}
	b.mu.Lock()
	s.OpenedAt, s.LastCause = b.openedAt, b.cause
	b.mu.Unlock()
	return s
}

// circuitOpenError is the error of a call refused by an open breaker.
type circuitOpenError struct {
	classOf
	cause   error
	retryIn time.Duration
	trials  bool // half-open, with every trial taken
}

func (e *circuitOpenError) Error() string {
	if e.trials {
		return fmt.Sprintf("%v after repeated storage failures: trial calls are in progress, and calls fail fast until they succeed; check the disk and the database file (last failure: %v)",
			ErrCircuitOpen, e.cause)
	}
	return fmt.Sprintf("%v after repeated storage failures: calls fail fast for another %v, then trial calls go through; check the disk and the database file (last failure: %v)",
		ErrCircuitOpen, max(e.retryIn, 0).Round(time.Millisecond), e.cause)
}

func (e *circuitOpenError) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrCircuitOpen}
	}
	return []error{ErrCircuitOpen, e.cause}
}
