package link

import (
	"sync"
	"sync/atomic"
	"testing"
)

// goawayTooMany stands for a goaway reason byte.
const goawayTooMany = 1

// TestState: from several goroutines at once, each mark is won by one
// call, the first down reason stays, one CompareAndSwap wins each state
// change, and the state, the goaway byte, the marks and the down reason
// leave each other alone.
func TestState(t *testing.T) {
	var f State
	f.Store(Ready)
	var draining, closed atomic.Int32
	marks := []uint32{FlagSlowCounted, FlagGoawaySent, FlagGoawayRecv, FlagAbandoned, FlagCloseAfterReply, FlagShortServed, FlagHandshakeSlot, FlagHandshakeSlotFreed}
	won := make([]atomic.Int32, len(marks))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				for i, m := range marks {
					if f.Mark(m) {
						won[i].Add(1)
					}
				}
				f.SetDown(byte(g + 1))
				f.SetGoaway(goawayTooMany)
				if f.CompareAndSwap(Ready, Draining) {
					draining.Add(1)
				}
				if f.Swap(Closed) == Draining {
					closed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	for i, m := range marks {
		if won[i].Load() != 1 || !f.Has(m) {
			t.Errorf("mark %#x: won %d times, set %v; want once, set", m, won[i].Load(), f.Has(m))
		}
	}
	if draining.Load() != 1 || closed.Load() != 1 || f.Load() != Closed {
		t.Errorf("ready→draining won %d times, draining→closed %d, state %d; want 1, 1, %d", draining.Load(), closed.Load(), f.Load(), Closed)
	}
	first := f.Down()
	if first < 1 || first > 4 {
		t.Fatalf("down reason %d, want one of the goroutines' 1-4", first)
	}
	f.SetDown(6)
	if f.Down() != first || f.Goaway() != goawayTooMany {
		t.Errorf("down %d, goaway %d after a later setDown; want %d, %d", f.Down(), f.Goaway(), first, goawayTooMany)
	}
	var g State
	g.SetGoaway(7)
	g.SetDown(3)
	g.Store(Draining)
	if g.Has(FlagSlowCounted) || g.Goaway() != 7 || g.Down() != 3 || g.Load() != Draining {
		t.Errorf("fresh state: marks %#x, goaway %d, down %d, state %d", g.w.Load()&0xff, g.Goaway(), g.Down(), g.Load())
	}
	if g.CompareAndSwap(Ready, Closed) || g.Load() != Draining || g.Down() != 3 {
		t.Errorf("a CompareAndSwap from the wrong state changed it: state %d, down %d", g.Load(), g.Down())
	}
}
