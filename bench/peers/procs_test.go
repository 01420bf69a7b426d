package peers

import "runtime"

// procs is GOMAXPROCS: RunParallel starts parallelism × procs goroutines.
func procs() int { return runtime.GOMAXPROCS(0) }
