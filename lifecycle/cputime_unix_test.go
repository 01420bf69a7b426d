//go:build unix

package lifecycle

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time (user + system) this process has used,
// which other processes on a shared machine do not inflate as they do
// wall time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
