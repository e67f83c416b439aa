package engine

import (
	"math/rand/v2"
	"testing"
)

// TestConnSetAgainstAMap: stores and removals in random order keep the set
// equal to a map of the same links, each link's slot right, a second removal
// false, and the backing array shrunk once most links are gone.
func TestConnSetAgainstAMap(t *testing.T) {
	var s connSet
	want := map[*peerConn]bool{}
	pcs := make([]*peerConn, 1000)
	for i := range pcs {
		pcs[i] = &peerConn{connSlot: -1}
		s.Store(pcs[i])
		want[pcs[i]] = true
	}
	check := func(when string) {
		t.Helper()
		got := map[*peerConn]bool{}
		s.Range(func(pc *peerConn) bool { got[pc] = true; return true })
		if len(got) != len(want) {
			t.Fatalf("%s: Range saw %d links, want %d", when, len(got), len(want))
		}
		for pc := range want {
			if !got[pc] || s.list[pc.connSlot] != pc {
				t.Fatalf("%s: a link is missing or in the wrong slot", when)
			}
		}
	}
	check("after stores")
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(pcs), func(i, j int) { pcs[i], pcs[j] = pcs[j], pcs[i] })
	for i, pc := range pcs[:900] {
		if !s.LoadAndDelete(pc) {
			t.Fatalf("removal %d: LoadAndDelete of a stored link = false", i)
		}
		if s.LoadAndDelete(pc) {
			t.Fatalf("removal %d: a second LoadAndDelete = true", i)
		}
		delete(want, pc)
		if i%100 == 0 {
			check("while removing")
		}
	}
	check("after removals")
	if c := cap(s.list); c > 4*len(s.list) {
		t.Errorf("100 links in a backing array of %d", c)
	}
	if s.LoadAndDelete(&peerConn{connSlot: -1}) || s.LoadAndDelete(&peerConn{}) {
		t.Error("LoadAndDelete of a link never stored = true")
	}
}

// TestConnSetSweep: Sweep visits every link once, in chunks; while links
// are removed under it, it visits none twice, and the links it did not
// remove stay in the set.
func TestConnSetSweep(t *testing.T) {
	const stored = 3*sweepChunk + 5
	var s connSet
	for range stored {
		s.Store(&peerConn{connSlot: -1})
	}
	seen := map[*peerConn]int{}
	s.Sweep(func(pc *peerConn) { seen[pc]++ })
	if len(seen) != stored {
		t.Fatalf("Sweep saw %d links of %d", len(seen), stored)
	}
	clear(seen)
	removed := 0
	s.Sweep(func(pc *peerConn) {
		if seen[pc]++; seen[pc] > 1 {
			t.Fatal("a link was visited twice while links were removed")
		}
		if len(seen)%2 == 0 && s.LoadAndDelete(pc) {
			removed++
		}
	})
	if len(seen) < stored/2 {
		t.Errorf("a sweep that removed links visited %d of %d", len(seen), stored)
	}
	if len(s.list) != stored-removed {
		t.Errorf("%d links left after removing %d of %d", len(s.list), removed, stored)
	}
}
