package histogram

import (
	"sync"
	"testing"
	"time"
)

func TestBuckets(t *testing.T) {
	var l Latency
	for _, d := range []time.Duration{-time.Second, 0, 15 * time.Microsecond, 16 * time.Microsecond, 40 * time.Microsecond, time.Hour} {
		l.Observe(d)
	}
	h := l.Snapshot()
	if len(h.Bounds) != Buckets-1 || len(h.Counts) != Buckets || h.Bounds[0] != 16*time.Microsecond || h.Bounds[1] != 32*time.Microsecond {
		t.Fatalf("bounds %v", h.Bounds)
	}
	// -1s and 0 and 15µs below 16µs; 16µs below 32µs; 40µs below 64µs; an hour past the last bound.
	if h.Counts[0] != 3 || h.Counts[1] != 1 || h.Counts[2] != 1 || h.Counts[Buckets-1] != 1 || h.Count != 6 {
		t.Fatalf("counts %v (count %d)", h.Counts, h.Count)
	}
	if want := time.Hour + 71*time.Microsecond; h.Sum != want {
		t.Fatalf("sum %v, want %v", h.Sum, want)
	}
}

func TestConcurrentObserve(t *testing.T) {
	var l Latency
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				l.Observe(time.Millisecond)
			}
		}()
	}
	wg.Wait()
	if h := l.Snapshot(); h.Count != 8000 || h.Sum != 8*time.Second {
		t.Fatalf("count %d sum %v", h.Count, h.Sum)
	}
}
