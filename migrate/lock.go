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
//
// Where the platform allows it (removeLockFile), unlock removes the file
// while it still holds the lock, so that no lock file stays beside the
// database after a run. A process that opened the file before it was
// removed then holds a lock on a file that is no longer at path: so after
// taking the lock, lockFile checks that path still names the file it
// locked, and starts over if it does not.
func lockFile(ctx context.Context, path string, onWait func()) (unlock func() error, err error) {
	delay := 2 * time.Millisecond
	var timer *time.Timer
	for {
		f, ok, err := tryLockPath(path)
		if err != nil {
			return nil, err
		}
		if ok {
			return func() error {
				var err error
				if removeLockFile {
					if rerr := os.Remove(path); rerr != nil && !os.IsNotExist(rerr) {
						err = rerr
					}
				}
				if uerr := unlockFile(f); err == nil {
					err = uerr
				}
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
			return nil, fmt.Errorf("migrate: waiting for the migration lock %s, held by another process: %w", path, context.Cause(ctx))
		case <-timer.C:
		}
		delay = min(delay*2, 100*time.Millisecond)
	}
}

// tryLockPath opens path (creating it) and tries once to lock it. ok is
// false when another holds the lock, or when path no longer names the file
// locked (the holder removed it): then the caller tries again. The file is
// returned open, and locked, only when ok.
func tryLockPath(path string) (f *os.File, ok bool, err error) {
	f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, false, fmt.Errorf("migrate: opening lock file %s (the database's directory must be writable): %w", path, err)
	}
	locked, err := tryLock(f)
	if err != nil || !locked {
		f.Close()
		if err != nil {
			return nil, false, fmt.Errorf("migrate: locking %s: %w", path, err)
		}
		return nil, false, nil
	}
	if removeLockFile {
		held, err1 := f.Stat()
		named, err2 := os.Stat(path)
		if err1 != nil || err2 != nil || !os.SameFile(held, named) {
			unlockFile(f)
			f.Close()
			return nil, false, nil // removed by the holder before it unlocked: try again
		}
	}
	return f, true, nil
}
