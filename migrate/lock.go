package migrate

import (
	"context"
	"fmt"
	"os"
	"time"
)

// lockSuffix names the lock file next to the database: app.db-migrate.lock.
const lockSuffix = "-migrate.lock"

// lockFile takes an exclusive advisory lock on path (created if needed),
// polling until it is free or ctx ends. The kernel releases the lock when the
// process dies, so a crashed migrator never leaves a stale lock behind.
// onWait runs once, if the lock is held by someone else.
func lockFile(ctx context.Context, path string, onWait func()) (unlock func() error, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("migrate: opening lock file %s (the database's directory must be writable): %w", path, err)
	}
	delay := 2 * time.Millisecond
	var timer *time.Timer
	for {
		ok, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("migrate: locking %s: %w", path, err)
		}
		if ok {
			return func() error {
				err := unlockFile(f)
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				return err
			}, nil
		}
		if onWait != nil {
			onWait()
			onWait = nil
		}
		if timer == nil {
			timer = time.NewTimer(delay)
		} else {
			timer.Reset(delay)
		}
		select {
		case <-ctx.Done():
			timer.Stop()
			f.Close()
			return nil, fmt.Errorf("migrate: waiting for the migration lock %s, held by another process: %w", path, context.Cause(ctx))
		case <-timer.C:
		}
		delay = min(delay*2, 100*time.Millisecond)
	}
}
