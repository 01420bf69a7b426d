//go:build unix

package migrate

import (
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// TestLockFileRemovedAndStillExclusive: unlocking removes the lock file,
// and the lock stays exclusive although each holder removes the file that
// the next waiter may already have opened (flock locks are per open file,
// so goroutines of one process contend as processes do).
func TestLockFileRemovedAndStillExclusive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db"+lockSuffix)
	var inside, overlaps atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				unlock, err := lockFile(ctx, path, nil)
				if err != nil {
					t.Error(err)
					return
				}
				if inside.Add(1) != 1 {
					overlaps.Add(1)
				}
				for range 20 { // hold it a while, letting others run
					runtime.Gosched()
				}
				if inside.Load() != 1 {
					overlaps.Add(1)
				}
				inside.Add(-1)
				if err := unlock(); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := overlaps.Load(); n != 0 {
		t.Errorf("%d times two holders held the lock at once", n)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the lock file is left behind: %v", err)
	}
}
