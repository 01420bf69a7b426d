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
// The call path stays cheap while the breaker is closed and nothing fails:
// one atomic load to admit a call, and no lock to record a success unless a
// failure was recorded since the last one.
type breaker struct {
	cb    circuitbreaker.CircuitBreaker[any]
	delay time.Duration
	now   func() time.Time

	notClosed atomic.Bool // open or half-open: admit through cb
	dirty     atomic.Bool // a failure was recorded since the last success

	mu       sync.Mutex
	openedAt time.Time
	cause    error
}

func newBreaker(cfg BreakerConfig, now func() time.Time) *breaker {
	b := &breaker{delay: cfg.Delay, now: now}
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
		OnClose(func(circuitbreaker.StateChangedEvent) { b.notClosed.Store(false) }).
		Build()
	return b
}

// allow admits a call, or returns why not. A nil breaker admits everything.
func (b *breaker) allow() error {
	if b == nil || !b.notClosed.Load() {
		return nil
	}
	if b.cb.IsOpen() {
		b.mu.Lock()
		due := b.now().Sub(b.openedAt) >= b.delay
		b.mu.Unlock()
		if due {
			b.cb.HalfOpen()
		}
	}
	if b.cb.TryAcquirePermit() {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return &circuitOpenError{classOf: classOf{Connection}, cause: b.cause, retryIn: b.delay - b.now().Sub(b.openedAt)}
}

// refuse is allow for work that is no trial of the storage (opening a
// connection): it fails fast while the breaker is open and its delay runs,
// and takes no trial permit.
func (b *breaker) refuse() error {
	if b == nil || !b.notClosed.Load() || !b.cb.IsOpen() {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if wait := b.delay - b.now().Sub(b.openedAt); wait > 0 {
		return &circuitOpenError{classOf: classOf{Connection}, cause: b.cause, retryIn: wait}
	}
	return nil
}

// record counts a call's outcome. Infrastructure failures and work still
// locked out after every retry count as failures; timeouts and cancellations
// count as nothing; anything else, errors of the statement included, is a
// success for the breaker: the storage answered.
func (b *breaker) record(err error) {
	if b == nil {
		return
	}
	var exhausted *retriesError
	if err != nil && (rulesOf(err).infrastructure(err) || errors.As(err, &exhausted)) {
		b.mu.Lock()
		b.cause = err
		b.mu.Unlock()
		b.dirty.Store(true)
		b.cb.RecordFailure()
		return
	}
	if err != nil && Classify(err) == Performance {
		return // a timeout says nothing about the storage
	}
	if b.notClosed.Load() || b.dirty.Swap(false) {
		b.cb.RecordSuccess()
	}
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
}

func (e *circuitOpenError) Error() string {
	return fmt.Sprintf("%v after repeated storage failures: calls fail fast for another %v, then trial calls go through; check the disk and the database file (last failure: %v)",
		ErrCircuitOpen, max(e.retryIn, 0).Round(time.Millisecond), e.cause)
}

func (e *circuitOpenError) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrCircuitOpen}
	}
	return []error{ErrCircuitOpen, e.cause}
}
