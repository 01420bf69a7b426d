package lifecycle

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// This file holds what Restore does to the file it replaces: the restored
// database takes its permission bits and owner, and, if asked, the
// replaced database is kept beside it instead of being deleted.

// adoptFileMode gives the copy at tmp the permission bits and the owner
// (user and group) of destPath, which it is about to replace, so that the
// programs that used destPath can still open it. When destPath does not
// exist the copy keeps the backup's permission bits and the caller's
// owner.
func adoptFileMode(tmp, destPath, backupPath string) error {
	fi, err := os.Stat(destPath)
	owner := err == nil
	if errors.Is(err, fs.ErrNotExist) {
		fi, err = os.Stat(backupPath)
	}
	if err != nil {
		return err
	}
	if err := os.Chmod(tmp, fi.Mode().Perm()); err != nil {
		return fmt.Errorf("giving the copy the permissions of %s: %w", destPath, err)
	}
	if !owner {
		return nil
	}
	if err := chownLike(tmp, fi); err != nil {
		return fmt.Errorf("giving the copy the owner of %s: %w: run the restore as that user (or as root), or change the owner of %s first", destPath, err, destPath)
	}
	return nil
}

// keepReplaced keeps the database at destPath, with its -wal and -journal
// files, under the name keep (keep-wal, keep-journal), in the same
// directory, as hard links: destPath itself stays in place, untouched,
// until the restored copy is renamed over it. Where the file system has no
// hard links it fails, having changed nothing. Nothing is kept when
// destPath does not exist.
func keepReplaced(destPath, keep string) error {
	if _, err := os.Stat(destPath); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	absDest, err1 := filepath.Abs(destPath)
	absKeep, err2 := filepath.Abs(keep)
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	if filepath.Dir(absDest) != filepath.Dir(absKeep) {
		return fmt.Errorf("the replaced database is kept beside it: %s is not in the directory of %s", keep, destPath)
	}
	for _, suffix := range []string{"", "-wal", "-journal"} {
		if _, err := os.Lstat(keep + suffix); err == nil {
			return fmt.Errorf("%s exists: name another file to keep the replaced database in", keep+suffix)
		}
	}
	var made []string
	for _, suffix := range []string{"", "-wal", "-journal"} {
		from, to := destPath+suffix, keep+suffix
		if _, err := os.Lstat(from); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := os.Link(from, to); err != nil {
			for _, m := range made {
				os.Remove(m)
			}
			return fmt.Errorf("keeping %s as %s (a hard link: the file system must have them; or keep none): %w", from, to, err)
		}
		made = append(made, to)
	}
	return nil
}
