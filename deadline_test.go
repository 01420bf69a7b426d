package qlsqlite

import (
	"context"
	"errors"
	"testing"
	"time"
)

// newStmtContext returns a statement context as the interceptor makes one.
func newStmtContext(parent context.Context, timeout time.Duration) *stmtContext {
	c := &stmtContext{}
	c.reset(parent, time.Now(), timeout)
	return c
}

func TestStmtContextDone(t *testing.T) {
	sc := newStmtContext(context.Background(), 10*time.Millisecond)
	if err := sc.Err(); err != nil {
		t.Fatalf("Err before the deadline = %v", err)
	}
	<-sc.Done() // closes when the deadline passes
	if err := sc.Err(); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Err after Done = %v", err)
	}
	sc.release()
}

type ctxKey struct{}

func TestStmtContextFollowsParent(t *testing.T) {
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
	sc := newStmtContext(parent, time.Hour)
	if sc.Value(ctxKey{}) != "v" {
		t.Error("the caller's values are lost")
	}
	done := sc.Done()
	cancel()
	<-done // closes when the caller's context is done
	if err := sc.Err(); !errors.Is(err, context.Canceled) {
		t.Errorf("Err = %v, want the caller's context.Canceled", err)
	}
	sc.release()
}

func TestStmtContextRelease(t *testing.T) {
	sc := newStmtContext(context.Background(), time.Hour)
	sc.Done()
	sc.release() // stops the timer; nothing leaks
	var nilCtx *stmtContext
	nilCtx.release() // no deadline applied: a no-op
}

func TestTimeoutErrorText(t *testing.T) {
	cause := errors.New("sqlite3: interrupted")
	sc := newStmtContext(context.Background(), time.Nanosecond)
	err := surfaceCtxErr(sc, cause)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, cause) {
		t.Fatalf("%v does not match both causes", err)
	}
	if want := "qlsqlite: statement exceeded the 1ns default deadline (raise _timeout, or pass a context with its own deadline): sqlite3: interrupted"; err.Error() != want {
		t.Errorf("got  %q\nwant %q", err, want)
	}
	if err := surfaceCtxErr(context.Background(), cause); err != cause {
		t.Errorf("an error with a live context changed: %v", err)
	}
}
