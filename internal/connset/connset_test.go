package connset

import (
	"math/rand/v2"
	"testing"
)

// link is a member as the engine's links are: a struct embedding its Slot.
type link struct {
	Slot
	name int
}

// TestAgainstAMap: stores and removals in random order keep the set equal
// to a map of the same links, each link's slot right, a second removal
// false, and the backing array shrunk once most links are gone.
func TestAgainstAMap(t *testing.T) {
	var s Set[*link]
	want := map[*link]bool{}
	ls := make([]*link, 1000)
	for i := range ls {
		ls[i] = &link{name: i}
		s.Store(ls[i])
		want[ls[i]] = true
	}
	check := func(when string) {
		t.Helper()
		got := map[*link]bool{}
		s.Range(func(l *link) bool { got[l] = true; return true })
		if len(got) != len(want) {
			t.Fatalf("%s: Range saw %d links, want %d", when, len(got), len(want))
		}
		for l := range want {
			if !got[l] || s.list[l.i-1] != l {
				t.Fatalf("%s: link %d is missing or in the wrong slot", when, l.name)
			}
		}
	}
	check("after stores")
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(ls), func(i, j int) { ls[i], ls[j] = ls[j], ls[i] })
	for i, l := range ls[:900] {
		if !s.LoadAndDelete(l) {
			t.Fatalf("removal %d: LoadAndDelete of a stored link = false", i)
		}
		if s.LoadAndDelete(l) {
			t.Fatalf("removal %d: a second LoadAndDelete = true", i)
		}
		if l.i != 0 {
			t.Fatalf("removal %d: a removed link keeps slot %d", i, l.i)
		}
		delete(want, l)
		if i%100 == 0 {
			check("while removing")
		}
	}
	check("after removals")
	if c := cap(s.list); c > 4*len(s.list) {
		t.Errorf("100 links in a backing array of %d", c)
	}
	if s.LoadAndDelete(&link{}) || s.LoadAndDelete(&link{Slot: Slot{i: 1}}) {
		t.Error("LoadAndDelete of a link never stored = true")
	}
}

// TestRangeStops: Range stops at the first false.
func TestRangeStops(t *testing.T) {
	var s Set[*link]
	for i := range 10 {
		s.Store(&link{name: i})
	}
	calls := 0
	s.Range(func(*link) bool { calls++; return calls < 3 })
	if calls != 3 {
		t.Fatalf("Range made %d calls after the third returned false", calls)
	}
}

// TestSweep: Sweep visits every link once, in chunks; while links are
// removed under it, it visits none twice, and the links it did not remove
// stay in the set.
func TestSweep(t *testing.T) {
	const stored = 3*SweepChunk + 5
	var s Set[*link]
	for i := range stored {
		s.Store(&link{name: i})
	}
	seen := map[*link]int{}
	s.Sweep(func(l *link) { seen[l]++ })
	if len(seen) != stored {
		t.Fatalf("Sweep saw %d links of %d", len(seen), stored)
	}
	clear(seen)
	removed := 0
	s.Sweep(func(l *link) {
		if seen[l]++; seen[l] > 1 {
			t.Fatal("a link was visited twice while links were removed")
		}
		if len(seen)%2 == 0 && s.LoadAndDelete(l) {
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
