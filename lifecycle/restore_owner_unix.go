//go:build unix

package lifecycle

import (
	"io/fs"
	"os"
	"syscall"
)

// chownLike gives the file at path the owner and group of fi, if they
// differ from its own.
func chownLike(path string, fi fs.FileInfo) error {
	want, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	cur, err := os.Stat(path)
	if err != nil {
		return err
	}
	if have, ok := cur.Sys().(*syscall.Stat_t); ok && have.Uid == want.Uid && have.Gid == want.Gid {
		return nil
	}
	return os.Lchown(path, int(want.Uid), int(want.Gid))
}
