//go:build !race

package lifecycle

// raceScale divides the size of the largest tests under the race detector
// (see race_test.go); without it, they run at full size.
const raceScale = 1
