//go:build !unix && !windows

package migrate

import (
	"errors"
	"os"
	"runtime"
)

func tryLock(*os.File) (bool, error) {
	return false, errors.New("no cross-process file lock on " + runtime.GOOS)
}

func unlockFile(*os.File) error { return nil }

const removeLockFile = false
