package qlsqlite

import (
	"context"
	"errors"
	"testing"
	"time"
)

// newStmtContext returns a statement context as the interceptor makes one,
// watched by a database of its own that the test's end closes.
func newStmtContext(t *testing.T, parent context.Context, timeout time.Duration) *stmtContext {
	db := newDatabase(defaultConfig(), sqliteRules{})
	t.Cleanup(func() {
		db.cancel()
		db.background.Wait()
	})
	c := &stmtContext{watch: &db.deadlines}
	c.reset(parent, time.Now(), timeout)
	return c
}

func TestStmtContextDone(t *testing.T) {
	sc := newStmtContext(t, context.Background(), 10*time.Millisecond)
	if err := sc.Err(); err != nil {
		t.Fatalf("Err before the deadline = %v", err)
	}
	select {
	case <-sc.Done(): // closes when the deadline passes
	case <-time.After(time.Minute):
		t.Fatal("Done did not close a minute after a 10ms deadline")
	}
	if err := sc.Err(); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Err after Done = %v", err)
	}
	sc.release()
}

// TestDeadlineWatch: one database's watch ends every armed context when
// its deadline passes, and forgets the ones released before.
func TestDeadlineWatch(t *testing.T) {
	db := newDatabase(defaultConfig(), sqliteRules{})
	defer func() {
		db.cancel()
		db.background.Wait()
	}()
	var ended, released []*stmtContext
	for i := range 40 {
		sc := &stmtContext{watch: &db.deadlines}
		sc.reset(context.Background(), time.Now(), 20*time.Millisecond)
		sc.Done()
		if i%4 == 0 {
			released = append(released, sc)
		} else {
			ended = append(ended, sc)
		}
	}
	for _, sc := range released {
		sc.release()
	}
	for i, sc := range ended {
		select {
		case <-sc.Done():
		case <-time.After(time.Minute):
			t.Fatalf("context %d: Done did not close a minute after a 20ms deadline", i)
		}
		if !errors.Is(sc.Err(), context.DeadlineExceeded) {
			t.Errorf("context %d: Err = %v", i, sc.Err())
		}
		sc.release()
	}
	db.deadlines.mu.Lock()
	left := len(db.deadlines.armed)
	db.deadlines.mu.Unlock()
	if left != 0 {
		t.Errorf("%d contexts still watched after all were released or ended", left)
	}
}

type ctxKey struct{}

func TestStmtContextFollowsParent(t *testing.T) {
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
	sc := newStmtContext(t, parent, time.Hour)
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
	sc := newStmtContext(t, context.Background(), time.Hour)
	sc.Done()
	sc.release() // stops the timer; nothing leaks
	var nilCtx *stmtContext
	nilCtx.release() // no deadline applied: a no-op
}

func TestTimeoutErrorText(t *testing.T) {
	cause := errors.New("sqlite3: interrupted")
	sc := newStmtContext(t, context.Background(), time.Nanosecond)
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
