//go:build race

package engine

// raceOn: the race detector's runtime allocates where the plain one does
// not (sync.Pool drops items at random), so allocation counts are skipped.
const raceOn = true
