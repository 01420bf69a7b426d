package qlsqlite

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"
)

// powerVFS wraps the OS VFS and models a machine that can lose power: what
// a file had at its last Sync is on the platter, anything written after it
// is in a volatile cache. When the power fails, every write and sync fails
// from then on, and [powerVFS.restore] puts each file back as it was at its
// last Sync, which is what a real disk holds after the machine comes back.
// SQLite's own crash tests work this way (test6.c).
type powerVFS struct {
	vfs.VFS
	off atomic.Bool // the power is off

	mu    sync.Mutex
	files map[string]*volatile // by path: a file's unsynced writes outlive its handle
}

// volatile is what a file has written since its last Sync, as undo
// records, oldest first.
type volatile struct {
	undo []undoRecord
}

// undoRecord is what a write or a truncation replaced.
type undoRecord struct {
	off  int64  // where the bytes were
	old  []byte // the bytes it overwrote (none past the old end)
	size int64  // the file's size before it
}

var errPowerOff = vfs.SystemError(syscall.EIO, sqlite3.IOERR_WRITE)

func registerPowerVFS(t *testing.T) (*powerVFS, string) {
	name := "power-" + strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	p := &powerVFS{VFS: vfs.Find("os"), files: map[string]*volatile{}}
	vfs.Register(name, p)
	t.Cleanup(func() { vfs.Unregister(name) })
	return p, name
}

// cut turns the power off.
func (p *powerVFS) cut() { p.off.Store(true) }

// restore puts every file back as it was at its last Sync, and removes the
// shared memory file, which lives in RAM on a real machine.
func (p *powerVFS) restore(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for path, v := range p.files {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for i := len(v.undo) - 1; i >= 0; i-- {
			u := v.undo[i]
			if _, err := f.WriteAt(u.old, u.off); err != nil {
				t.Fatal(err)
			}
			if err := f.Truncate(u.size); err != nil {
				t.Fatal(err)
			}
		}
		f.Close()
		if strings.HasSuffix(path, "-wal") {
			os.Remove(strings.TrimSuffix(path, "-wal") + "-shm")
		}
	}
	p.files = map[string]*volatile{}
}

// Delete implements [vfs.VFS]: with the power off, nothing changes.
func (p *powerVFS) Delete(name string, syncDir bool) error {
	if p.off.Load() {
		return errPowerOff
	}
	return p.VFS.Delete(name, syncDir)
}

// OpenFilename implements [vfs.VFSFilename], which SQLite prefers to Open.
func (p *powerVFS) OpenFilename(name *vfs.Filename, flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	file, flags, err := p.VFS.(vfs.VFSFilename).OpenFilename(name, flags)
	if err != nil {
		return nil, flags, err
	}
	path := name.String()
	p.mu.Lock()
	v := p.files[path]
	if v == nil {
		v = &volatile{}
		p.files[path] = v
	}
	p.mu.Unlock()
	return &powerFile{File: file, vfs: p, v: v}, flags, nil
}

type powerFile struct {
	vfs.File
	vfs *powerVFS
	v   *volatile
}

// record keeps what [off, off+n) held, and the size, before a change.
func (f *powerFile) record(off, n int64) error {
	size, err := f.File.Size()
	if err != nil {
		return err
	}
	end := min(off+n, size)
	var old []byte
	if end > off {
		old = make([]byte, end-off)
		if _, err := f.File.ReadAt(old, off); err != nil {
			return err
		}
	}
	f.vfs.mu.Lock()
	f.v.undo = append(f.v.undo, undoRecord{off: off, old: old, size: size})
	f.vfs.mu.Unlock()
	return nil
}

func (f *powerFile) WriteAt(b []byte, off int64) (int, error) {
	if f.vfs.off.Load() {
		return 0, errPowerOff
	}
	if err := f.record(off, int64(len(b))); err != nil {
		return 0, err
	}
	return f.File.WriteAt(b, off)
}

func (f *powerFile) Truncate(size int64) error {
	if f.vfs.off.Load() {
		return errPowerOff
	}
	cur, err := f.File.Size()
	if err != nil {
		return err
	}
	if err := f.record(size, cur-size); err != nil {
		return err
	}
	return f.File.Truncate(size)
}

// Sync makes what the file holds durable: nothing before it can be lost.
func (f *powerFile) Sync(flags vfs.SyncFlag) error {
	if f.vfs.off.Load() {
		return errPowerOff
	}
	if err := f.File.Sync(flags); err != nil {
		return err
	}
	f.vfs.mu.Lock()
	f.v.undo = nil
	f.vfs.mu.Unlock()
	return nil
}

// SharedMemory forwards the OS file's WAL index.
func (f *powerFile) SharedMemory() vfs.SharedMemory {
	if s, ok := f.File.(vfs.FileSharedMemory); ok {
		return s.SharedMemory()
	}
	return nil
}

func (f *powerFile) LockState() vfs.LockLevel {
	if s, ok := f.File.(vfs.FileLockState); ok {
		return s.LockState()
	}
	return vfs.LOCK_EXCLUSIVE + 1 // unknown
}

func (f *powerFile) Unwrap() vfs.File { return f.File }

// powerFailure runs concurrent autocommit inserts through qlsqlite on the
// power VFS, cuts the power once ackAt of them are acknowledged, and
// brings the files back as a disk would hold them. It returns the
// acknowledged ids and the ids the file holds, checked with
// integrity_check, and the statistics of group commit before the cut.
func powerFailure(t *testing.T, params string, ackAt int) (acked, found map[int64]bool, groups GroupCommitStats) {
	pv, name := registerPowerVFS(t)
	path := filepath.Join(t.TempDir(), "power.db")
	db, err := Open("file:"+path+"?vfs="+name+params, WithoutBreaker())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE log (id INTEGER PRIMARY KEY, payload BLOB)`); err != nil {
		t.Fatal(err)
	}
	acked = map[int64]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	payload := make([]byte, 300)
	for range 8 {
		wg.Go(func() {
			for !pv.off.Load() {
				res, err := db.ExecContext(context.Background(), `INSERT INTO log (payload) VALUES (?)`, payload)
				if err != nil {
					continue // the power failed under it: not acknowledged
				}
				id, _ := res.LastInsertId()
				mu.Lock()
				acked[id] = true
				if len(acked) == ackAt {
					pv.cut()
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if s, err := Stats(db); err == nil {
		groups = s.Database.GroupCommit
	}
	db.Close()
	pv.restore(t)

	check, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer check.Close()
	var result string
	if err := check.QueryRow(`PRAGMA integrity_check`).Scan(&result); err != nil || result != "ok" {
		t.Fatalf("integrity_check after the power failure: %q %v", result, err)
	}
	found = map[int64]bool{}
	rows, err := check.Query(`SELECT id FROM log`)
	if err != nil {
		return acked, found, groups // the table itself was lost
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		found[id] = true
	}
	return acked, found, groups
}

// With synchronous=FULL (the default), a power failure loses no
// acknowledged commit, and the file passes integrity_check.
func TestPowerFailureLosesNoAcknowledgedCommit(t *testing.T) {
	for _, ackAt := range []int{1, 37, 400, 2500} { // the last runs past an automatic checkpoint
		acked, found, _ := powerFailure(t, "", ackAt)
		lost := 0
		for id := range acked {
			if !found[id] {
				lost++
			}
		}
		if lost > 0 {
			t.Errorf("power cut after %d acknowledged inserts: %d of %d acknowledged rows lost", ackAt, lost, len(acked))
		}
	}
}

// With synchronous=OFF, or NORMAL in WAL mode (which syncs the WAL only at
// checkpoints), the same test sees acknowledged commits lost: it tells a
// durable configuration from one that is not.
func TestPowerFailureWithoutSyncLosesCommits(t *testing.T) {
	for _, sync := range []string{"off", "normal"} {
		acked, found, _ := powerFailure(t, "&_pragma=journal_mode(wal)&_pragma=busy_timeout(5000)&_pragma=synchronous("+sync+")", 400)
		lost := 0
		for id := range acked {
			if !found[id] {
				lost++
			}
		}
		if lost == 0 {
			t.Errorf("synchronous=%s lost none of %d acknowledged rows: the power failure model is not cutting anything", sync, len(acked))
		}
	}
}
