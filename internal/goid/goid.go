// Package goid reads the current goroutine's id, so a library can tell
// whether a blocking call comes from one of its own goroutines (an event
// loop, where it would deadlock).
package goid

import "runtime"

// ID returns the current goroutine's id, parsed from its stack header
// ("goroutine 42 [running]:"). About a microsecond.
func ID() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	const prefix = len("goroutine ")
	var id uint64
	for i := prefix; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		id = id*10 + uint64(b[i]-'0')
	}
	return id
}
