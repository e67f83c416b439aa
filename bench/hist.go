package main

import (
	"math/bits"
	"time"
)

// Latency histogram: log-linear buckets over nanoseconds, 64 sub-buckets per
// power of two (relative error under 1.6%), values up to 2^36 ns (~68 s).
// Recording is one index computation and one increment; no allocation.
const (
	histSubBits = 6
	histSub     = 1 << histSubBits
	histMaxExp  = 36
	histBuckets = (histMaxExp - histSubBits + 1) * histSub
)

type hist struct {
	counts [histBuckets]uint32
	n      uint64
}

func histBucket(v uint64) int {
	if v < histSub {
		return int(v)
	}
	e := bits.Len64(v) - histSubBits - 1 // v>>e in [64, 128)
	i := (e+1)<<histSubBits + int(v>>uint(e)) - histSub
	if i >= histBuckets {
		i = histBuckets - 1
	}
	return i
}

// histValue is the midpoint of bucket i, in nanoseconds.
func histValue(i int) float64 {
	if i < histSub {
		return float64(i)
	}
	e := i>>histSubBits - 1
	m := i&(histSub-1) + histSub
	lo := float64(uint64(m) << uint(e))
	return lo + float64(uint64(1)<<uint(e))/2
}

func (h *hist) record(ns int64) {
	if ns < 0 {
		ns = 0
	}
	h.counts[histBucket(uint64(ns))]++
	h.n++
}

// total accumulates many per-worker histograms.
type histTotal struct {
	counts [histBuckets]uint64
	n      uint64
}

func (t *histTotal) add(h *hist) {
	for i, c := range h.counts {
		t.counts[i] += uint64(c)
	}
	t.n += h.n
}

// quantile returns the q-quantile (0 < q <= 1), or 0 with no samples.
func (t *histTotal) quantile(q float64) time.Duration {
	if t.n == 0 {
		return 0
	}
	target := uint64(q*float64(t.n) + 0.5)
	if target < 1 {
		target = 1
	}
	var seen uint64
	for i, c := range t.counts {
		seen += c
		if seen >= target {
			return time.Duration(histValue(i))
		}
	}
	return time.Duration(histValue(histBuckets - 1))
}
