//go:build race

package lifecycle

// raceDetector is true when the tests run under the race detector, which
// makes SQLite (Go code, translated from Wasm) about twenty times slower:
// the million-row test then archives a tenth of the rows.
const raceDetector = true
