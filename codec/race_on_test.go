//go:build race

package codec_test

// raceEnabled: the race detector drops a quarter of sync.Pool puts, so
// fmt.Errorf may allocate its printer anew.
const raceEnabled = true
