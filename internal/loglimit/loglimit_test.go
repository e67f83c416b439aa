package loglimit

import (
	"testing"
	"time"
)

// allowed counts the lines Allow lets through out of n at now.
func allowed(l *Limiter, now time.Duration, n int) int {
	ok := 0
	for range n {
		if l.Allow(int64(now)) {
			ok++
		}
	}
	return ok
}

func TestBurstThenRate(t *testing.T) {
	var l Limiter
	if got := allowed(&l, 0, 100); got != Burst {
		t.Fatalf("burst: %d lines allowed, want %d", got, Burst)
	}
	if got := allowed(&l, Every-1, 10); got != 0 {
		t.Fatalf("before a refill: %d allowed", got)
	}
	if got := allowed(&l, Every, 10); got != 1 {
		t.Fatalf("one interval later: %d allowed, want 1", got)
	}
	if got := allowed(&l, Every+time.Hour, 100); got != Burst {
		t.Fatalf("after a long quiet: %d allowed, want the burst %d", got, Burst)
	}
}

// Every dropped line is counted in exactly one summary, and the summary
// waits for its interval after the first drop.
func TestSummaryCountsEveryDroppedLine(t *testing.T) {
	l := Limiter{SummaryEvery: time.Second}
	allowed(&l, 0, Burst+5) // 5 dropped at 0
	if d := l.Due(int64(time.Second - 1)); d != 0 {
		t.Fatalf("summary before its interval: %d", d)
	}
	allowed(&l, time.Second/2, 3) // 1 refilled and allowed, 2 dropped
	if d := l.Due(int64(time.Second)); d != 7 {
		t.Fatalf("summary: %d dropped, want 7", d)
	}
	if d := l.Due(int64(time.Hour)); d != 0 {
		t.Fatalf("second summary with nothing dropped: %d", d)
	}
}
