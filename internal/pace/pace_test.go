package pace

import (
	"testing"
	"time"
)

func newPacer() *Pacer[string] {
	return &Pacer[string]{Min: time.Millisecond, Max: 50 * time.Millisecond}
}

// woken returns the links WakeDue wakes at now, and its answer.
func woken(p *Pacer[string], now time.Time) ([]string, time.Duration, bool) {
	var got []string
	d, ok := p.WakeDue(now, func(k string) { got = append(got, k) })
	return got, d, ok
}

func TestEmptyPacerHasNothingDue(t *testing.T) {
	p := newPacer()
	if got, _, ok := woken(p, time.Unix(0, 0)); ok || len(got) != 0 {
		t.Fatalf("empty pacer: woke %v, ok %v", got, ok)
	}
}

// A peer that does not read is looked at less and less often, down to Max;
// one that reads again is looked at every Min.
func TestBacksOffWhileThePeerDoesNotRead(t *testing.T) {
	p := newPacer()
	now := time.Unix(100, 0)
	p.Hold("a", false, now)
	var waits []time.Duration
	for range 8 {
		got, d, ok := woken(p, now)
		if !ok {
			t.Fatal("held link not reported")
		}
		if len(got) == 0 {
			now = now.Add(d) // nothing due yet: jump to the next wake
			got, _, _ = woken(p, now)
		}
		if len(got) != 1 || got[0] != "a" {
			t.Fatalf("woke %v, want [a]", got)
		}
		p.Hold("a", false, now) // the loop looked: still no progress
		_, d, _ = woken(p, now)
		waits = append(waits, d)
	}
	want := []time.Duration{2, 4, 8, 16, 32, 50, 50, 50}
	for i, w := range want {
		if waits[i] != w*time.Millisecond {
			t.Fatalf("waits %v, want %v ms", waits, want)
		}
	}
	p.Hold("a", true, now) // the peer read: back to Min
	if _, d, _ := woken(p, now); d != time.Millisecond {
		t.Fatalf("after progress the wait is %v, want 1ms", d)
	}
}

// Only the links whose time has come are woken; the answer is the wait for
// the earliest of the others.
func TestWakesOnlyTheDueLinks(t *testing.T) {
	p := newPacer()
	t0 := time.Unix(100, 0)
	p.Hold("early", true, t0)
	p.Hold("late", true, t0.Add(5*time.Millisecond))
	got, d, ok := woken(p, t0.Add(time.Millisecond))
	if !ok || len(got) != 1 || got[0] != "early" {
		t.Fatalf("woke %v, want [early]", got)
	}
	if d != time.Millisecond { // early again at +2ms; late at +6ms
		t.Fatalf("next wait %v, want 1ms", d)
	}
	p.Release("early")
	if got, d, _ := woken(p, t0.Add(2*time.Millisecond)); len(got) != 0 || d != 4*time.Millisecond {
		t.Fatalf("after release: woke %v, next %v; want none, 4ms", got, d)
	}
	if p.Len() != 1 {
		t.Fatalf("Len %d, want 1", p.Len())
	}
}
