package route

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/antnet-p2p/antnet/proto"
)

// testLink is the link type of the index tests' entries, which have none.
type testLink struct{}

func (*testLink) Outbound() bool { return false }
func (*testLink) Key() string    { return "" }
func (*testLink) Nonce() uint64  { return 0 }

type testEntry = Entry[testLink, *testLink]

func addrKey(e *testEntry) string { return e.ID.Addr }

// checkIndex compares x with want, entry by entry, and checks every probe
// still ends: at most half the slots used.
func checkIndex(t *testing.T, x *index[testLink, *testLink], want map[string]*testEntry) {
	t.Helper()
	for k, e := range want {
		if got := x.load(k); got != e {
			t.Fatalf("load(%s) = %p, want %p", k, got, e)
		}
	}
	n := 0
	x.each(func(e *testEntry) {
		if want[e.ID.Addr] != e {
			t.Fatalf("each yields %s, not in the index", e.ID)
		}
		n++
	})
	if n != len(want) || x.live != len(want) {
		t.Fatalf("each yields %d entries, live %d, want %d", n, x.live, len(want))
	}
	if s := x.slots(); x.used*2 > s {
		t.Fatalf("%d of %d slots used: probes may not end", x.used, s)
	}
}

// TestIndexAgainstAMap: random adds, replaces and deletes, through growth,
// tombstones and shrinking, agree with a map at every step.
func TestIndexAgainstAMap(t *testing.T) {
	x := newIndex(addrKey)
	want := map[string]*testEntry{}
	rng := rand.New(rand.NewPCG(1, 2))
	keys := 3000
	for step := range 40000 {
		k := fmt.Sprintf("10.0.%d.%d:7000", rng.IntN(keys)/256, rng.IntN(keys)%256)
		switch rng.IntN(3) {
		case 0, 1:
			e := &testEntry{ID: proto.PeerID{Name: "n", Addr: k}}
			x.store(e)
			want[k] = e
		case 2:
			x.delete(k)
			delete(want, k)
			if x.load(k) != nil {
				t.Fatalf("step %d: %s still there after delete", step, k)
			}
		}
		if step%1000 == 0 {
			checkIndex(t, &x, want)
		}
		if step == 30000 {
			keys = 40 // fewer keys from here: deletes win and the table shrinks
		}
	}
	checkIndex(t, &x, want)
	for k := range want {
		x.delete(k)
	}
	if x.slots() != 0 || x.used != 0 {
		t.Fatalf("empty index keeps %d slots, %d used", x.slots(), x.used)
	}
}

// TestIndexShrinks: an index that held 10,000 entries and kept 10 holds a
// small table, not the large one.
func TestIndexShrinks(t *testing.T) {
	x := newIndex(addrKey)
	var es []*testEntry
	for i := range 10000 {
		e := &testEntry{ID: proto.PeerID{Name: "n", Addr: fmt.Sprintf("10.1.%d.%d:7000", i/256, i%256)}}
		es = append(es, e)
		x.store(e)
	}
	big := x.slots()
	for _, e := range es[10:] {
		x.delete(e.ID.Addr)
	}
	if s := x.slots(); s > 64 || s >= big {
		t.Fatalf("10 entries left in %d slots (%d at 10,000)", s, big)
	}
	for _, e := range es[:10] {
		if x.load(e.ID.Addr) != e {
			t.Fatalf("%s lost while shrinking", e.ID)
		}
	}
}

// TestIndexStoreAllocatesNothing: once the table has room, a store and a
// delete allocate nothing.
func TestIndexStoreAllocatesNothing(t *testing.T) {
	x := newIndex(addrKey)
	for i := range 100 {
		x.store(&testEntry{ID: proto.PeerID{Name: "n", Addr: fmt.Sprintf("10.2.0.%d:7000", i)}})
	}
	e := &testEntry{ID: proto.PeerID{Name: "n", Addr: "10.3.0.1:7000"}}
	if a := testing.AllocsPerRun(100, func() {
		x.store(e)
		x.delete(e.ID.Addr)
	}); a != 0 {
		t.Fatalf("%.1f allocations per store and delete, want 0", a)
	}
}
