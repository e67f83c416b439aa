package engine

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram is a snapshot of a latency histogram with fixed bucket bounds.
type Histogram struct {
	// Bounds are the buckets' upper bounds, ascending: 16µs, 32µs, ... about
	// 16.8s (powers of two). A value d is in the first bucket with d < bound.
	Bounds []time.Duration
	// Counts holds each bucket's count (not cumulative); it has one more
	// entry than Bounds, for the values past the last bound.
	Counts []uint64
	Count  uint64        // values observed: the sum of Counts
	Sum    time.Duration // their total
}

// latencyBuckets is the number of buckets: the bounds 16µs·2^i for
// i < latencyBuckets-1, then the overflow.
const latencyBuckets = 22

// latency is a histogram of durations: one atomic add for the bucket and one
// for the sum per observation, no lock.
type latency struct {
	buckets [latencyBuckets]atomic.Uint64
	sum     atomic.Int64
}

// observe counts d. Any goroutine.
func (l *latency) observe(d time.Duration) {
	i := bits.Len64(uint64(max(d, 0)/time.Microsecond) >> 4)
	l.buckets[min(i, latencyBuckets-1)].Add(1)
	l.sum.Add(int64(d))
}

// snapshot returns the histogram's current counts.
func (l *latency) snapshot() Histogram {
	h := Histogram{
		Bounds: make([]time.Duration, latencyBuckets-1),
		Counts: make([]uint64, latencyBuckets),
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

// RequestRTT returns the histogram of request round trips: from the call
// to Dispatch (or DispatchAll) to its reply, for requests answered with a
// reply (not errors or timeouts). Recording costs the caller's goroutine
// one time.Now and two atomic adds per reply; a snapshot costs a few
// hundred bytes and no lock.
func (n *Node) RequestRTT() Histogram { return n.rtt.snapshot() }

// BroadcastDelay returns the histogram of broadcast delivery delays at this
// node: from the origin's Broadcast call, by the origin's clock, to the
// delivery here, by this node's, for stamped broadcasts (every antnet
// origin stamps). Summed over every node of a network, its quantiles are
// the broadcast coverage times: how long until that share of nodes had a
// broadcast. Across hosts it is as good as their clocks' sync; a delay
// below zero counts as zero. Recording costs one time.Since and two atomic
// adds per broadcast delivered.
func (n *Node) BroadcastDelay() Histogram { return n.broadcastDelay.snapshot() }
