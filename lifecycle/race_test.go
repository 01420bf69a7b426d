//go:build race

package lifecycle

// raceScale divides the size of the largest tests under the race detector,
// which runs SQLite's compiled WebAssembly 10 to 20 times slower: the same
// code paths, fewer rows.
const raceScale = 20
