package engine

import (
	"sync"
	"testing"

	"github.com/antnet-p2p/antnet/proto"
)

// TestLinkFlags: from several goroutines at once, each mark is won by one
// call, the first down reason stays, and the goaway byte, the marks and
// the down reason leave each other alone.
func TestLinkFlags(t *testing.T) {
	var f linkFlags
	marks := []uint32{flagSlowCounted, flagGoawaySent, flagGoawayRecv, flagAbandoned, flagCloseAfterReply, flagShortServed}
	won := make([]int, len(marks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				for i, m := range marks {
					if f.mark(m) {
						mu.Lock()
						won[i]++
						mu.Unlock()
					}
				}
				f.setDown(Reason(g + 1))
				f.setGoawayReason(proto.GoawayTooManyLinks)
			}
		}()
	}
	wg.Wait()
	for i, m := range marks {
		if won[i] != 1 || !f.has(m) {
			t.Errorf("mark %#x: won %d times, set %v; want once, set", m, won[i], f.has(m))
		}
	}
	first := f.down()
	if first < 1 || first > 4 {
		t.Fatalf("down reason %d, want one of the goroutines' 1-4", first)
	}
	f.setDown(ReasonClosed)
	if f.down() != first || f.goawayReason() != proto.GoawayTooManyLinks {
		t.Errorf("down %d, goaway %d after a later setDown; want %d, %d", f.down(), f.goawayReason(), first, proto.GoawayTooManyLinks)
	}
	var g linkFlags
	g.setGoawayReason(7)
	g.setDown(ReasonSilent)
	if g.has(flagSlowCounted) || g.goawayReason() != 7 || g.down() != ReasonSilent {
		t.Errorf("fresh flags: marks %#x, goaway %d, down %d", g.w.Load()&0xff, g.goawayReason(), g.down())
	}
}
