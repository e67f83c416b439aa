package claim

import (
	"sync"
	"sync/atomic"
	"testing"
)

// dial is a holder as the engine's are: a pointer that knows when it is over.
type dial struct{ over atomic.Bool }

func isOver(d *dial) bool { return d.over.Load() }

// TestOneHolder: of many claimants racing for a key, one holds it and the
// others are shown that one; it keeps the key until it is over, then the
// next claimant takes it over; Release by a holder that lost the key
// changes nothing.
func TestOneHolder(t *testing.T) {
	var tab Table[string, *dial]
	claimants := make([]*dial, 32)
	shown := make([]*dial, len(claimants))
	var won atomic.Int32
	var wg sync.WaitGroup
	for i := range claimants {
		claimants[i] = new(dial)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if h, held := tab.Claim("peer", claimants[i], isOver); held {
				shown[i] = h
			} else {
				won.Add(1)
			}
		}()
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Fatalf("%d claimants hold the key", won.Load())
	}
	holder, ok := tab.Holder("peer")
	if !ok {
		t.Fatal("no holder after the race")
	}
	for i, h := range shown {
		if h != nil && h != holder {
			t.Fatalf("claimant %d was shown another holder than the one in the table", i)
		}
	}

	next := new(dial)
	if h, held := tab.Claim("peer", next, isOver); !held || h != holder {
		t.Fatal("a live holder was taken over")
	}
	holder.over.Store(true)
	if _, held := tab.Claim("peer", next, isOver); held {
		t.Fatal("a holder that is over kept the key")
	}
	tab.Release("peer", holder) // lost the key meanwhile: nothing changes
	if h, _ := tab.Holder("peer"); h != next {
		t.Fatal("a former holder's Release dropped its successor's claim")
	}
	tab.Release("peer", next)
	if _, ok := tab.Holder("peer"); ok {
		t.Fatal("the key is held after its holder released it")
	}
	if _, held := tab.Claim("other", next, isOver); held {
		t.Fatal("a free key was held")
	}
}
