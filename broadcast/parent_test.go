package broadcast

import (
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/proto"
)

// TestKeepsTheLinkOfTheCopyWithTheMostTTL: node 3 hears broadcasts from
// node 0 first the long way (0-1-2-3, 1 ms a hop) and then directly (0-3,
// 10 ms), with 2 more ttl. It keeps the direct link and prunes the one the
// first copy came on; node 0, which pushed 3 the better copy, takes 3's
// worse one for a duplicate but does not prune the link, since 3 keeps
// it. From then on 3 is one hop from 0 on the tree: the next broadcast
// reaches it on the direct link first, with ttl to spare, and nothing is
// pushed on 2-3.
func TestKeepsTheLinkOfTheCopyWithTheMostTTL(t *testing.T) {
	s := newSim(t, 4, [][2]int{{0, 1}, {1, 2}, {2, 3}, {0, 3}}, 1, nil)
	for _, e := range [][2]int{{0, 1}, {1, 2}, {2, 3}} {
		s.links[e].latency = time.Millisecond
	}
	s.links[key(0, 3)].latency = 10 * time.Millisecond
	first := s.broadcast(0, 16)
	s.settle()
	s.checkOnce(first, everyone)
	for _, c := range []struct {
		a, b  int
		eager bool
	}{{3, 0, true}, {0, 3, true}, {3, 2, false}, {2, 3, false}} {
		if got := s.nodes[c.a].tree.links[c.b].eager; got != c.eager {
			t.Errorf("after the first broadcast, node %d's link to %d eager %v, want %v", c.a, c.b, got, c.eager)
		}
	}
	if st := s.nodes[0].tree.Stats(); st.PrunesSent != 0 {
		t.Errorf("node 0 sent %d prunes, want none: node 3 keeps its link", st.PrunesSent)
	}
	if st := s.nodes[3].tree.Stats(); st.Reparents != 1 {
		t.Errorf("node 3 kept %d better copies' links, want 1", st.Reparents)
	}

	type hop struct{ from, to int }
	var came []hop
	from3, ttl3 := -1, -1 // where node 3's first copy came from, and its ttl
	s.trace = func(from, to int, f codec.Frame) {
		if f.Kind == codec.KindGossip {
			if to == 3 && from3 < 0 {
				from3, ttl3 = from, int(f.TTL)
			}
			came = append(came, hop{from, to})
		}
	}
	next := s.broadcast(0, 16)
	s.settle()
	s.checkOnce(next, everyone)
	for _, h := range came {
		if h == (hop{2, 3}) || h == (hop{3, 2}) {
			t.Errorf("the second broadcast was pushed on 2-3: %v", came)
		}
	}
	if from3 != 0 || ttl3 != 16 {
		t.Errorf("node 3's first copy of the second broadcast came from node %d with ttl %d, want from 0 with 16 (one hop)", from3, ttl3)
	}
}

// TestGraftsTheAnnouncerOfferingTheMostTTL: an id announced on two links
// alike (both eager, one id overdue on each) is grafted from the one that
// offered more ttl, later as it came: it is nearer the origin, so the
// graft attaches this node where the tree is shallower.
func TestGraftsTheAnnouncerOfferingTheMostTTL(t *testing.T) {
	now := time.Unix(1, 0)
	tr, r, _ := twoTreeLinks(t, &now)
	for _, a := range []struct {
		link int
		ttl  uint8
	}{{1, 3}, {2, 9}} {
		if err := tr.IHave(r.send, a.link, proto.AppendIHave(nil, []proto.Have{{ID: 21, TTL: a.ttl}})); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(time.Second)
	tr.Tick(r.send)
	if r.count(1, codec.KindGraft) != 0 || r.count(2, codec.KindGraft) != 1 {
		t.Fatalf("grafts sent on link 1 (ttl 3): %d, on link 2 (ttl 9): %d; want the one on link 2", r.count(1, codec.KindGraft), r.count(2, codec.KindGraft))
	}
}

// gossipTTL hands tr broadcast id from link from with ttl and reports
// whether it was delivered.
func gossipTTL(tr *Tree[int], r recorder, from int, ttl uint8, id uint64) bool {
	payload := proto.AppendGossip(nil, proto.PeerID{Name: "o", Addr: "127.0.0.1:1"}, []byte("x"))
	return tr.Gossip(r.send, from, 0, ttl, id, payload)
}

// A duplicate pushed with exactly 1 more ttl than the kept copy moves the
// tree to its link (the kept copy's link is pruned); one with the same ttl
// is an ordinary duplicate and its own link is pruned.
func TestSwapTakesOneMoreTTL(t *testing.T) {
	now := time.Unix(1, 0)
	tr, r, _ := twoTreeLinks(t, &now)
	if !gossipTTL(tr, r, 1, 5, 11) || gossipTTL(tr, r, 2, 6, 11) {
		t.Fatal("broadcast 11: want it delivered from link 1 only")
	}
	if r.count(1, codec.KindPrune) != 1 || r.count(2, codec.KindPrune) != 0 || tr.Stats().Reparents != 1 {
		t.Fatalf("1 more ttl on link 2: prunes on link 1 %d, on link 2 %d, swaps %d; want 1, 0, 1", r.count(1, codec.KindPrune), r.count(2, codec.KindPrune), tr.Stats().Reparents)
	}
	tr.LinkUp(3, true)
	if !gossipTTL(tr, r, 2, 5, 12) || gossipTTL(tr, r, 3, 5, 12) {
		t.Fatal("broadcast 12: want it delivered from link 2 only")
	}
	if r.count(3, codec.KindPrune) != 1 || r.count(2, codec.KindPrune) != 0 {
		t.Fatalf("the same ttl on link 3: prunes on link 3 %d, on link 2 %d; want 1, 0", r.count(3, codec.KindPrune), r.count(2, codec.KindPrune))
	}
}

// A copy kept from a flooding link is never swapped away: a flooding peer
// is sent no prune, however much more ttl a tree link's copy carries.
func TestNoSwapAwayFromAFloodingLink(t *testing.T) {
	now := time.Unix(1, 0)
	tr, err := New[int](Config{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	tr.LinkUp(1, false)
	tr.LinkUp(2, true)
	r := recorder{}
	if !gossipTTL(tr, r, 1, 3, 21) || gossipTTL(tr, r, 2, 9, 21) {
		t.Fatal("want the broadcast delivered from the flooding link only")
	}
	for _, k := range []codec.Kind{codec.KindPrune, codec.KindIHave, codec.KindGraft} {
		if n := r.count(1, k); n != 0 {
			t.Fatalf("the flooding link was sent %d frames of kind %v", n, k)
		}
	}
	if n := tr.Stats().Reparents; n != 0 {
		t.Fatalf("%d swaps away from a flooding link, want 0", n)
	}
}

// A node that relayed its worse copy on the link whose better copy it then
// keeps marks that link: a peer that took the relayed copy for a
// duplicate and prunes (one without rule 4) is answered with a graft of
// id 0, and the link stays the tree's path; without the mark the node
// would be left with no eager link.
func TestSwapMarksTheLinkItRelayedOn(t *testing.T) {
	now := time.Unix(1, 0)
	tr, r, _ := twoTreeLinks(t, &now)
	if !gossipTTL(tr, r, 1, 5, 31) || r.count(2, codec.KindGossip) != 1 {
		t.Fatal("want broadcast 31 delivered from link 1 and relayed on link 2")
	}
	if gossipTTL(tr, r, 2, 7, 31) || tr.Stats().Reparents != 1 {
		t.Fatal("want link 2's better copy to move the tree to link 2")
	}
	peerPrunes(t, tr, r, 2, 1)
	if s := tr.Stats(); s.EagerLinks != 1 || s.LazyLinks != 1 {
		t.Fatalf("after link 2's peer pruned it: %d eager, %d lazy links; want link 2 still eager", s.EagerLinks, s.LazyLinks)
	}
}
