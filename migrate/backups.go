package migrate

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// DefaultKeepBackups is how many of its backups of a database a [Migrator]
// keeps (see [WithKeepBackups]).
const DefaultKeepBackups = 5

// EventBackupRemoved: an older backup, Path, was removed after a new one
// was taken, to keep the number set by [WithKeepBackups].
const EventBackupRemoved EventKind = "backup-removed"

// WithKeepBackups sets how many backups of the database a Migrator keeps
// in the backup directory (default [DefaultKeepBackups]). After it has
// taken a backup, it removes the oldest of the backups of this database
// beyond the n newest; it only ever removes files named as it names its
// backups (<database file>.<UTC time>.v<version>.bak, see
// [WithBackupDir]), never another file. 0 keeps every backup.
func WithKeepBackups(n int) Option {
	return func(o *options) {
		n = max(n, 0)
		o.keepBackups = &n
	}
}

// backupName matches the names session.backup gives backups of base.
func backupName(base string) *regexp.Regexp {
	return regexp.MustCompile(`^` + regexp.QuoteMeta(base) + `\.(\d{8}T\d{6}\.\d{3}Z)\.v\d+(?:-(\d+))?\.bak$`)
}

// pruneBackups removes the oldest backups of base in dir beyond the
// number to keep, and reports each removed. A backup that cannot be
// removed stays; the next run tries again.
func (m *Migrator) pruneBackups(dir, base string) {
	keep := DefaultKeepBackups
	if m.opts.keepBackups != nil {
		keep = *m.opts.keepBackups
	}
	if keep == 0 {
		return
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	type backup struct {
		name, stamp string
		seq         int
	}
	var found []backup
	re := backupName(base)
	for _, e := range entries {
		sub := re.FindStringSubmatch(e.Name())
		if sub == nil || !e.Type().IsRegular() {
			continue
		}
		seq, _ := strconv.Atoi(sub[2]) // "" (the first of its millisecond) is 0
		found = append(found, backup{e.Name(), sub[1], seq})
	}
	// Newest first: by time (the names' UTC stamps sort as text), then
	// by sequence within one millisecond.
	slices.SortFunc(found, func(a, b backup) int {
		if c := strings.Compare(b.stamp, a.stamp); c != 0 {
			return c
		}
		return b.seq - a.seq
	})
	for _, b := range found[min(keep, len(found)):] {
		path := filepath.Join(dir, b.name)
		if os.Remove(path) == nil {
			m.emit(Event{Kind: EventBackupRemoved, Path: path})
		}
	}
}
