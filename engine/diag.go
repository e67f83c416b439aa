package engine

import (
	"strconv"
	"time"
)

// monoBase anchors monoNow.
var monoBase = time.Now()

// monoNow is a monotonic clock in nanoseconds: a stall's timing does not
// jump with the wall clock.
func monoNow() int64 { return int64(time.Since(monoBase)) }

// humanBytes prints n bytes for a person: 1.2 GB, 80 KB, 12 B.
func humanBytes(n uint64) string {
	const unit = 1000
	if n < unit {
		return strconv.FormatUint(n, 10) + " B"
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return strconv.FormatFloat(float64(n)/float64(div), 'f', 1, 64) + " " + string("KMGT"[exp]) + "B"
}
