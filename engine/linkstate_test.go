package engine

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/antnet-p2p/antnet/proto"
)

// TestLinkState: from several goroutines at once, each mark is won by one
// call, the first down reason stays, one CompareAndSwap wins each state
// change, and the state, the goaway byte, the marks and the down reason
// leave each other alone.
func TestLinkState(t *testing.T) {
	var f linkState
	f.Store(stateReady)
	var draining, closed atomic.Int32
	marks := []uint32{flagSlowCounted, flagGoawaySent, flagGoawayRecv, flagAbandoned, flagCloseAfterReply, flagShortServed, flagHandshakeSlot, flagHandshakeSlotFreed}
	won := make([]atomic.Int32, len(marks))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				for i, m := range marks {
					if f.mark(m) {
						won[i].Add(1)
					}
				}
				f.setDown(Reason(g + 1))
				f.setGoawayReason(proto.GoawayTooManyLinks)
				if f.CompareAndSwap(stateReady, stateDraining) {
					draining.Add(1)
				}
				if f.Swap(stateClosed) == stateDraining {
					closed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	for i, m := range marks {
		if won[i].Load() != 1 || !f.has(m) {
			t.Errorf("mark %#x: won %d times, set %v; want once, set", m, won[i].Load(), f.has(m))
		}
	}
	if draining.Load() != 1 || closed.Load() != 1 || f.Load() != stateClosed {
		t.Errorf("ready→draining won %d times, draining→closed %d, state %d; want 1, 1, %d", draining.Load(), closed.Load(), f.Load(), stateClosed)
	}
	first := f.down()
	if first < 1 || first > 4 {
		t.Fatalf("down reason %d, want one of the goroutines' 1-4", first)
	}
	f.setDown(ReasonClosed)
	if f.down() != first || f.goawayReason() != proto.GoawayTooManyLinks {
		t.Errorf("down %d, goaway %d after a later setDown; want %d, %d", f.down(), f.goawayReason(), first, proto.GoawayTooManyLinks)
	}
	var g linkState
	g.setGoawayReason(7)
	g.setDown(ReasonSilent)
	g.Store(stateDraining)
	if g.has(flagSlowCounted) || g.goawayReason() != 7 || g.down() != ReasonSilent || g.Load() != stateDraining {
		t.Errorf("fresh state: marks %#x, goaway %d, down %d, state %d", g.w.Load()&0xff, g.goawayReason(), g.down(), g.Load())
	}
	if g.CompareAndSwap(stateReady, stateClosed) || g.Load() != stateDraining || g.down() != ReasonSilent {
		t.Errorf("a CompareAndSwap from the wrong state changed it: state %d, down %d", g.Load(), g.down())
	}
}
