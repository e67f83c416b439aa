package broadcast

import (
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/proto"
)

// TestGraftWaitFollowsLateEagerCopies: eager copies that lag the lazy
// link's announcements by 400 ms (a loaded network, a deep tree) are slow,
// not lost. The first few are grafted (the announcer answers at once and
// the eager copy comes later, a duplicate); from then on the node waits
// long enough and grafts no more, so the tree's links stay as they are.
func TestGraftWaitFollowsLateEagerCopies(t *testing.T) {
	now := time.Unix(1, 0)
	tr, err := New[int](Config{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	tr.LinkUp(1, true) // the tree's link: eager copies come on it
	tr.LinkUp(2, true)
	if err := tr.Prune(2, nil); err != nil { // lazy: it announces
		t.Fatal(err)
	}
	r := recorder{}
	payload := proto.AppendGossip(nil, proto.PeerID{Name: "o", Addr: "127.0.0.1:1"}, []byte("x"))
	const lag = 400 * time.Millisecond
	var late int // rounds with a graft, of the last ten
	for round := range 20 {
		id := uint64(2*round + 1)
		if err := tr.IHave(r.send, 2, proto.AppendIHave(nil, []proto.Have{{ID: id, TTL: 10}})); err != nil {
			t.Fatal(err)
		}
		grafts := r.count(2, codec.KindGraft)
		answered := false
		for step := time.Duration(0); step < lag; step += 10 * time.Millisecond {
			now = now.Add(10 * time.Millisecond)
			tr.Tick(r.send)
			if !answered && r.count(2, codec.KindGraft) > grafts {
				answered = true // the announcer answers the graft at once
				if !tr.Gossip(r.send, 2, 0, 10, id, payload) {
					t.Fatalf("round %d: the graft's answer not delivered", round)
				}
			}
		}
		if tr.Gossip(r.send, 1, 0, 10, id, payload) == answered {
			t.Fatalf("round %d: the eager copy delivered %v, want it delivered only when no graft fetched it first", round, !answered)
		}
		if answered && round >= 10 {
			late++
		}
		if !tr.links[1].eager || tr.links[2].eager {
			t.Fatalf("round %d: eager: link 1 %v, link 2 %v; want the tree's link only", round, tr.links[1].eager, tr.links[2].eager)
		}
		now = now.Add(time.Second)
	}
	if late > 0 {
		t.Fatalf("%d of the last 10 eager copies, each 400 ms behind its announcement, were grafted: the graft wait did not follow them (now %v)", late, tr.graftWait())
	}
	if w := tr.graftWait(); w < lag || w > maxGraftWait*250*time.Millisecond {
		t.Fatalf("graft wait %v, want at least the lag %v and at most the cap", w, lag)
	}
	// A peer that announces ids long before anyone sends them makes a node
	// wait at most the cap.
	for range 100 {
		tr.sampleLag(time.Minute)
	}
	if w := tr.graftWait(); w != maxGraftWait*250*time.Millisecond {
		t.Fatalf("graft wait %v after lags of a minute, want the cap %v", w, maxGraftWait*250*time.Millisecond)
	}
}

// TestLateEagerCopyUndoesTheGraft: a node grafts an id from the lazy link
// that announced it, and the eager copy comes after the graft's answer.
// The tree still reaches the node: the grafted link is pruned again and the
// tree's link stays eager, so a late copy does not move the node in the
// tree.
func TestLateEagerCopyUndoesTheGraft(t *testing.T) {
	now := time.Unix(1, 0)
	tr, err := New[int](Config{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	tr.LinkUp(1, true) // the tree's link
	tr.LinkUp(2, true)
	if err := tr.Prune(2, nil); err != nil {
		t.Fatal(err)
	}
	r := recorder{}
	payload := proto.AppendGossip(nil, proto.PeerID{Name: "o", Addr: "127.0.0.1:1"}, []byte("x"))
	if err := tr.IHave(r.send, 2, proto.AppendIHave(nil, []proto.Have{{ID: 7, TTL: 10}})); err != nil {
		t.Fatal(err)
	}
	for r.count(2, codec.KindGraft) == 0 {
		if now = now.Add(10 * time.Millisecond); now.After(time.Unix(3, 0)) {
			t.Fatal("no graft for an id announced and not received in 2 s")
		}
		tr.Tick(r.send)
	}
	if !tr.Gossip(r.send, 2, 0, 10, 7, payload) {
		t.Fatal("the graft's answer not delivered")
	}
	now = now.Add(50 * time.Millisecond)
	if tr.Gossip(r.send, 1, 0, 10, 7, payload) {
		t.Fatal("the late eager copy delivered again")
	}
	if got := r.count(1, codec.KindPrune); got != 0 {
		t.Fatalf("the tree's link pruned by its late copy (%d prunes): the node moved in the tree", got)
	}
	if got := r.count(2, codec.KindPrune); got != 1 {
		t.Fatalf("%d prunes on the grafted link, want 1: the graft undone", got)
	}
	if !tr.links[1].eager || tr.links[2].eager {
		t.Fatalf("eager: link 1 %v, link 2 %v; want the tree's link only", tr.links[1].eager, tr.links[2].eager)
	}
}

// TestSecondGraftAnswerIsNotTheEagerCopy: two announcers are grafted in
// turn (the first answer is slow), the second answers first, then the
// first; only the tree's own copy, last, undoes the graft. The tree's link
// stays eager and both grafted links end lazy.
func TestSecondGraftAnswerIsNotTheEagerCopy(t *testing.T) {
	now := time.Unix(1, 0)
	tr, err := New[int](Config{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	for l := 1; l <= 3; l++ {
		tr.LinkUp(l, true)
	}
	for l := 2; l <= 3; l++ {
		if err := tr.Prune(l, nil); err != nil {
			t.Fatal(err)
		}
	}
	r := recorder{}
	payload := proto.AppendGossip(nil, proto.PeerID{Name: "o", Addr: "127.0.0.1:1"}, []byte("x"))
	for l := 2; l <= 3; l++ {
		if err := tr.IHave(r.send, l, proto.AppendIHave(nil, []proto.Have{{ID: 9, TTL: 10}})); err != nil {
			t.Fatal(err)
		}
	}
	for r.count(2, codec.KindGraft) == 0 || r.count(3, codec.KindGraft) == 0 {
		if now = now.Add(10 * time.Millisecond); now.After(time.Unix(4, 0)) {
			t.Fatal("both announcers not grafted within 3 s")
		}
		tr.Tick(r.send)
	}
	if !tr.Gossip(r.send, 3, 0, 10, 9, payload) || tr.Gossip(r.send, 2, 0, 10, 9, payload) || tr.Gossip(r.send, 1, 0, 10, 9, payload) {
		t.Fatal("want the second graft's answer delivered, the first's and the tree's copy not")
	}
	if got := r.count(1, codec.KindPrune); got != 0 {
		t.Fatalf("the tree's link pruned (%d prunes)", got)
	}
	if !tr.links[1].eager || tr.links[2].eager || tr.links[3].eager {
		t.Fatalf("eager: links 1-3 %v %v %v; want the tree's link only", tr.links[1].eager, tr.links[2].eager, tr.links[3].eager)
	}
}
