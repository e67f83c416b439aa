package goid

import "testing"

func TestIDIsStablePerGoroutineAndDistinctAcross(t *testing.T) {
	a, b := ID(), ID()
	if a == 0 || a != b {
		t.Fatalf("same goroutine: %d then %d", a, b)
	}
	other := make(chan uint64)
	go func() { other <- ID() }()
	if o := <-other; o == 0 || o == a {
		t.Fatalf("another goroutine got %d, this one %d", o, a)
	}
}
