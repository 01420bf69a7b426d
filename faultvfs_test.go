package qlsqlite

import (
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"
)

// faultVFS wraps the OS VFS and fails writes or syncs on demand, the way a
// failing disk or a full one does.
type faultVFS struct {
	vfs.VFS
	writeErr atomic.Pointer[error] // returned by WriteAt while set
	syncErr  atomic.Pointer[error] // returned by Sync while set
	readErr  atomic.Pointer[error] // returned by ReadAt past a database's first page while set
	writes   atomic.Int64          // WriteAt calls that reached the disk
	reads    atomic.Int64          // ReadAt calls past a file's first 4096 bytes
}

// registerFaultVFS registers a fault VFS under a name of its own for the
// test, and returns it and its name for the DSN's vfs parameter.
func registerFaultVFS(t *testing.T) (*faultVFS, string) {
	name := "fault-" + strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	f := &faultVFS{VFS: vfs.Find("os")}
	vfs.Register(name, f)
	t.Cleanup(func() { vfs.Unregister(name) })
	return f, name
}

var (
	errEIO  = vfs.SystemError(syscall.EIO, sqlite3.IOERR_WRITE)
	errFull = vfs.SystemError(syscall.ENOSPC, sqlite3.FULL)
	errSync = vfs.SystemError(syscall.EIO, sqlite3.IOERR_FSYNC)
)

func (f *faultVFS) failWrites(err error) { f.writeErr.Store(ptrOrNil(err)) }
func (f *faultVFS) failSyncs(err error)  { f.syncErr.Store(ptrOrNil(err)) }

// failReads fails reads past the first 4096 bytes of a file: the header
// and the schema's first page still read, table pages do not.
func (f *faultVFS) failReads(err error) { f.readErr.Store(ptrOrNil(err)) }

func ptrOrNil(err error) *error {
	if err == nil {
		return nil
	}
	return &err
}

// OpenFilename wraps the OS VFS's OpenFilename, which SQLite prefers to Open.
func (f *faultVFS) OpenFilename(name *vfs.Filename, flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	file, flags, err := f.VFS.(vfs.VFSFilename).OpenFilename(name, flags)
	if err != nil {
		return nil, flags, err
	}
	return &faultFile{File: file, vfs: f}, flags, nil
}

type faultFile struct {
	vfs.File
	vfs *faultVFS
}

func (f *faultFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.vfs.writeErr.Load(); err != nil {
		return 0, *err
	}
	f.vfs.writes.Add(1)
	return f.File.WriteAt(p, off)
}

func (f *faultFile) ReadAt(p []byte, off int64) (int, error) {
	if off >= 4096 {
		if err := f.vfs.readErr.Load(); err != nil {
			return 0, *err
		}
		f.vfs.reads.Add(1)
	}
	return f.File.ReadAt(p, off)
}

func (f *faultFile) Sync(flags vfs.SyncFlag) error {
	if err := f.vfs.syncErr.Load(); err != nil {
		return *err
	}
	return f.File.Sync(flags)
}

// SharedMemory forwards the OS file's WAL index, without which WAL is off.
func (f *faultFile) SharedMemory() vfs.SharedMemory {
	if s, ok := f.File.(vfs.FileSharedMemory); ok {
		return s.SharedMemory()
	}
	return nil
}

func (f *faultFile) LockState() vfs.LockLevel {
	if s, ok := f.File.(vfs.FileLockState); ok {
		return s.LockState()
	}
	return vfs.LOCK_EXCLUSIVE + 1 // unknown
}

func (f *faultFile) Unwrap() vfs.File { return f.File }

// testClock is a clock tests move by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)} }

// Ticker implements [Clock]: the test moves time by hand, so it never ticks.
func (c *testClock) Ticker(time.Duration) (<-chan time.Time, func()) { return nil, func() {} }

// Now implements [Clock].
func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
