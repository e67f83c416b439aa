package broadcast

import (
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/proto"
)

// recorder is a Sender that keeps the kind of every frame sent, by link.
type recorder map[int][]codec.Kind

func (r recorder) send(l int, frame []byte) bool {
	r[l] = append(r[l], codec.Kind(frame[5]))
	return true
}

func (r recorder) count(l int, k codec.Kind) (n int) {
	for _, got := range r[l] {
		if got == k {
			n++
		}
	}
	return n
}

// twoTreeLinks is a tree on the clock *now with links 1 and 2, both
// speaking trees, the recorder of what it sends, and gossip, which hands
// it broadcast id (hop budget 5) from a link and reports whether it was
// delivered.
func twoTreeLinks(t *testing.T, now *time.Time) (*Tree[int], recorder, func(from int, id uint64) bool) {
	t.Helper()
	tr, err := New[int](Config{Now: func() time.Time { return *now }})
	if err != nil {
		t.Fatal(err)
	}
	tr.LinkUp(1, true)
	tr.LinkUp(2, true)
	r := recorder{}
	payload := proto.AppendGossip(nil, proto.PeerID{Name: "o", Addr: "127.0.0.1:1"}, []byte("x"))
	return tr, r, func(from int, id uint64) bool { return tr.Gossip(r.send, from, 0, 5, id, payload) }
}

// TestPrunesOnceAndStaleCopiesDoNotUndoIt: link 2 delivers a duplicate and
// is pruned. Until the prune reaches the peer, the peer goes on pushing:
// a second duplicate gets no second prune, and a first copy from it (sent
// before the prune arrived) does not make the link eager again, so the
// next broadcast is only announced on it.
func TestPrunesOnceAndStaleCopiesDoNotUndoIt(t *testing.T) {
	now := time.Unix(1, 0)
	tr, r, gossip := twoTreeLinks(t, &now)

	if !gossip(1, 11) || gossip(2, 11) {
		t.Fatal("broadcast 11: want it delivered from 1 and a duplicate from 2")
	}
	if !gossip(1, 12) || gossip(2, 12) {
		t.Fatal("broadcast 12: want it delivered from 1 and a duplicate from 2")
	}
	if got := r.count(2, codec.KindPrune); got != 1 {
		t.Fatalf("%d prunes sent on link 2 for two duplicates while the first prune travels, want 1", got)
	}
	if !gossip(2, 13) {
		t.Fatal("broadcast 13 from the pruned link: want it delivered")
	}
	pushed := r.count(2, codec.KindGossip)
	if !gossip(1, 14) {
		t.Fatal("broadcast 14: want it delivered")
	}
	if got := r.count(2, codec.KindGossip); got != pushed {
		t.Fatalf("broadcast 14 pushed on link 2, which this node pruned: a copy the peer sent before the prune made it eager again")
	}
	now = now.Add(time.Second)
	tr.Tick(r.send)
	if r.count(2, codec.KindIHave) == 0 {
		t.Fatal("broadcast 14 not announced on the lazy link 2")
	}
}

// TestKeepsItsLastEagerLink: broadcasts from two origins cross at a node
// with two eager links. Broadcast 21 comes first on link 1 and again on
// link 2, which is pruned; broadcast 22, pushed on link 2 before the prune
// got there, comes first on link 2 and again on link 1. Pruning link 1
// too would leave the node no link pushed on: cut off the tree, it would
// have to graft every later broadcast. It keeps link 1 eager.
func TestKeepsItsLastEagerLink(t *testing.T) {
	now := time.Unix(1, 0)
	tr, r, gossip := twoTreeLinks(t, &now)
	if !gossip(1, 21) || gossip(2, 21) {
		t.Fatal("broadcast 21: want it delivered from 1 and a duplicate from 2")
	}
	if !gossip(2, 22) || gossip(1, 22) {
		t.Fatal("broadcast 22: want it delivered from 2 and a duplicate from 1")
	}
	if got := r.count(2, codec.KindPrune); got != 1 {
		t.Fatalf("%d prunes on link 2, want 1", got)
	}
	if got := r.count(1, codec.KindPrune); got != 0 {
		t.Fatalf("link 1, the last link pushed on, pruned (%d prunes)", got)
	}
	if st := tr.Stats(); st.EagerLinks != 1 {
		t.Fatalf("%d eager links, want link 1 still eager", st.EagerLinks)
	}
	if !gossip(1, 23) || r.count(1, codec.KindPrune) != 0 {
		t.Fatal("broadcast 23 from link 1: want it delivered, link 1 kept")
	}
}
