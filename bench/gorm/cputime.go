package main

import (
	"syscall"
	"time"
)

// The CPU time of a measurement's last run, over every thread of the
// process (GORM, the driver, SQLite, cgo, the garbage collector, the
// drivers' background goroutines): on a machine shared with other work it
// varies less than the wall-clock time, which counts the time the process
// waited for a CPU too.
var lastCPU struct {
	d   time.Duration
	ops int
}

type cpuClock struct{ start time.Duration }

func startCPU() cpuClock { return cpuClock{processCPU()} }

// stop records the CPU time since start, spent on ops operations.
func (c cpuClock) stop(ops int) {
	lastCPU.d, lastCPU.ops = processCPU()-c.start, ops
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
