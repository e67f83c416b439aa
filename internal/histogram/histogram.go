// Package histogram counts durations in fixed power-of-two buckets with
// atomics: no lock on the recording path.
package histogram

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Snapshot is a histogram's counts at one moment, with its bucket bounds.
type Snapshot struct {
	// Bounds are the buckets' upper bounds, ascending: 16µs, 32µs, ... about
	// 16.8s (powers of two). A value d is in the first bucket with d < bound.
	Bounds []time.Duration
	// Counts holds each bucket's count (not cumulative); it has one more
	// entry than Bounds, for the values past the last bound.
	Counts []uint64
	Count  uint64        // values observed: the sum of Counts
	Sum    time.Duration // their total
}

// Buckets is the number of buckets: the bounds 16µs·2^i for i < Buckets-1,
// then the overflow.
const Buckets = 22

// Latency is a histogram of durations. The zero value is empty and ready.
// Safe for concurrent use.
type Latency struct {
	buckets [Buckets]atomic.Uint64
	sum     atomic.Int64
}

// Observe counts d (below zero counts as zero): two atomic adds, no lock.
func (l *Latency) Observe(d time.Duration) {
	i := bits.Len64(uint64(max(d, 0)/time.Microsecond) >> 4)
	l.buckets[min(i, Buckets-1)].Add(1)
	l.sum.Add(int64(max(d, 0)))
}

// Snapshot returns the current counts: two small slices, no lock. Counts
// observed during the call may be in Count but not yet in Sum.
func (l *Latency) Snapshot() Snapshot {
	h := Snapshot{
		Bounds: make([]time.Duration, Buckets-1),
		Counts: make([]uint64, Buckets),
	}
	for i := range h.Bounds {
		h.Bounds[i] = 16 * time.Microsecond << i
	}
	for i := range h.Counts {
		h.Counts[i] = l.buckets[i].Load()
		h.Count += h.Counts[i]
	}
	h.Sum = time.Duration(l.sum.Load())
	return h
}
