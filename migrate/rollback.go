package migrate

import (
	"context"
	"fmt"
)

// A rollback file added after its migration was applied is not a change of
// what was applied: it adds a way back. Up records it in schema_versions
// (so that Down keeps working once the file is gone), and Down uses the
// file when nothing was stored, without --accept-changed ([AcceptChanged]).
// A rollback file that differs from the one stored is a change
// ([ErrChanged]), as before.

// EventRollbackRecorded: the rollback file Source of applied migration
// Version, added after it was applied, was stored in schema_versions.
const EventRollbackRecorded EventKind = "rollback-recorded"

// addedRollback reports whether applied migration r has no stored
// rollback and its source now has a rollback file.
func addedRollback(r appliedRow, src *Migration) bool {
	return src != nil && !r.partial && r.rollback == "" && src.RollbackSource != "" && src.RollbackSQL != ""
}

// recordAddedRollbacks stores the rollback files added after their
// migrations were applied (those being accepted are stored by accept).
func (m *Migrator) recordAddedRollbacks(ctx context.Context, s *session, applied []appliedRow) error {
	for _, r := range applied {
		src := m.source(r.version)
		if !addedRollback(r, src) || m.opts.accept[r.version] {
			continue
		}
		_, err := s.conn.ExecContext(ctx, "UPDATE "+table+" SET rollback_script = ? WHERE version = ? AND coalesce(rollback_script, '') = ''",
			src.RollbackSQL, r.version)
		if err != nil {
			return fmt.Errorf("migrate: %s: recording the rollback added after version %d was applied: %w", src.RollbackSource, r.version, err)
		}
		m.emit(Event{Kind: EventRollbackRecorded, Version: r.version, Description: r.description, Source: src.RollbackSource})
	}
	return nil
}
