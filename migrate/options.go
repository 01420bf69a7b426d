package migrate

import (
	"time"

	"github.com/quantumleap/qlsqlite/internal/atrest"
)

// Option configures a [Migrator]; pass options to [New].
type Option func(*options)

type options struct {
	backupDir       string
	noBackup        bool
	allowOutOfOrder bool
	accept          map[int64]bool
	gos             []GoMigration
	maxDuration     time.Duration
	notify          func(Event)
	keepBackups     *int // WithKeepBackups; nil: DefaultKeepBackups

	backupEncryption *string       // WithBackupEncryption's parameters
	backupParams     atrest.Params // parsed by New
	plaintextBackup  bool
}

// DefaultMaxDuration bounds a run whose context has no deadline.
const DefaultMaxDuration = 24 * time.Hour

// WithBackupDir puts the backup taken before each run that changes the
// database in dir (created if needed) instead of next to the database file.
// For an in-memory database, no backup is taken unless a directory is set;
// nor is one taken of a new database that has nothing in it yet.
func WithBackupDir(dir string) Option { return func(o *options) { o.backupDir = dir } }

// WithoutBackup disables the backup taken before each run that changes the
// database. Use it when the database is backed up some other way.
func WithoutBackup() Option { return func(o *options) { o.noBackup = true } }

// AllowOutOfOrder lets [Migrator.Up] apply a pending migration whose version
// is below the highest applied one (in version order), instead of failing
// with [ErrOutOfOrder]. Use it when branches merge migrations out of order.
func AllowOutOfOrder() Option { return func(o *options) { o.allowOutOfOrder = true } }

// AcceptChanged acknowledges that the files of these applied versions were
// edited on purpose: instead of failing with [ErrChanged], Up records their
// new checksum and their new rollback script in schema_versions (a
// migration whose rollback file was deleted keeps the rollback stored when
// it was applied). The migration is not run again.
func AcceptChanged(versions ...int64) Option {
	return func(o *options) {
		if o.accept == nil {
			o.accept = map[int64]bool{}
		}
		for _, v := range versions {
			o.accept[v] = true
		}
	}
}

// WithGoMigrations registers migrations written in Go beside the files.
func WithGoMigrations(ms ...GoMigration) Option {
	return func(o *options) { o.gos = append(o.gos, ms...) }
}

// WithMaxDuration bounds a run whose context has no deadline (the default is
// [DefaultMaxDuration]). Every statement of a run executes under the run's
// context: a migration that rebuilds a big table can take minutes, and the
// qlsqlite driver would otherwise give each statement without a deadline its
// default per-statement deadline (30 s) and cut it short. A context that has
// a deadline is used as it is.
func WithMaxDuration(d time.Duration) Option { return func(o *options) { o.maxDuration = d } }

// WithNotify calls fn for each step of a run (waiting for the lock, backup,
// each migration applied or reverted), from the goroutine running it.
// The command-line tool prints these.
func WithNotify(fn func(Event)) Option { return func(o *options) { o.notify = fn } }

// EventKind says what an [Event] reports.
type EventKind string

// The kinds of [Event].
const (
	// EventLockWait: another process holds the migration lock; the run waits
	// (bounded by its context). Path is the lock file.
	EventLockWait EventKind = "lock-wait"
	// EventBackup: the database was backed up to Path before changing it.
	EventBackup EventKind = "backup"
	// EventApplied: migration Version (from Source) was applied in Duration.
	EventApplied EventKind = "applied"
	// EventReverted: migration Version was rolled back in Duration.
	EventReverted EventKind = "reverted"
	// EventAccepted: the changed file of applied migration Version was
	// acknowledged (see [AcceptChanged]).
	EventAccepted EventKind = "accepted"
)

// Event reports one step of a run to the function given to [WithNotify].
type Event struct {
	// Kind says what happened.
	Kind EventKind
	// Version is the migration applied or reverted; for EventBackup, the
	// database's version when it was backed up.
	Version int64
	// Description is the migration's description.
	Description string
	// Source is the file (or "go:<version>") that ran.
	Source string
	// Path is the backup file (EventBackup) or the lock file (EventLockWait).
	Path string
	// Duration is how long the step took, checks included.
	Duration time.Duration
}
