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

// deliveredThenDuplicate hands the tree broadcast id from link first,
// then again from link again, and fails unless the first is delivered and
// the second is not.
func deliveredThenDuplicate(t *testing.T, gossip func(int, uint64) bool, id uint64, first, again int) {
	t.Helper()
	if !gossip(first, id) || gossip(again, id) {
		t.Fatalf("broadcast %d: want it delivered from link %d and a duplicate from link %d", id, first, again)
	}
}

// TestPrunesOnceAndStaleCopiesDoNotUndoIt: link 2 delivers a duplicate and
// is pruned. Until the prune reaches the peer, the peer goes on pushing:
// a second duplicate gets no second prune, and a first copy from it (sent
// before the prune arrived) does not make the link eager again, so the
// next broadcast is only announced on it.
func TestPrunesOnceAndStaleCopiesDoNotUndoIt(t *testing.T) {
	now := time.Unix(1, 0)
	tr, r, gossip := twoTreeLinks(t, &now)

	deliveredThenDuplicate(t, gossip, 11, 1, 2)
	deliveredThenDuplicate(t, gossip, 12, 1, 2)
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
	deliveredThenDuplicate(t, gossip, 21, 1, 2)
	deliveredThenDuplicate(t, gossip, 22, 2, 1)
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

// TestStaleFirstCopyKeepsTheTreeLink: link 2 is pruned on broadcast 11's
// duplicate; broadcast 12, pushed on link 2 before the prune got there,
// comes first on it, then again on link 1, the way the tree carries it
// now. Pruning link 1 for that duplicate would cut this node off the
// tree's side behind link 1 (link 2 is going lazy at both ends), so it
// stays eager. The node relayed the stale copy on link 1, and its peer
// there, taking that for a duplicate, prunes: the node grafts link 1
// back (id 0: the peer sends nothing back), once, and a later prune on
// it is taken as usual.
func TestStaleFirstCopyKeepsTheTreeLink(t *testing.T) {
	now := time.Unix(1, 0)
	tr, r, gossip := keptLink(t, &now)
	if got := r.count(1, codec.KindPrune); got != 0 {
		t.Fatalf("link 1 pruned (%d prunes) for a duplicate of a broadcast whose first copy was stale", got)
	}
	peerPrunes(t, tr, r, 1, 1)
	pushed := r.count(1, codec.KindGossip)
	if !gossip(3, 13) || r.count(1, codec.KindGossip) != pushed+1 {
		t.Fatal("broadcast 13 from link 3: want it delivered and pushed on link 1, grafted back")
	}
	peerPrunes(t, tr, r, 1, 1) // a second prune is taken
	if !gossip(3, 14) || r.count(1, codec.KindGossip) != pushed+1 {
		t.Fatal("broadcast 14 from link 3: want it delivered and not pushed on the pruned link 1")
	}
	if st := tr.Stats(); st.StaleFirsts != 1 || st.Regrafts != 1 {
		t.Fatalf("StaleFirsts %d, Regrafts %d, want 1 and 1", st.StaleFirsts, st.Regrafts)
	}
}

// TestOwnPruneEndsTheKeep: a link kept for a stale first copy that this
// node then prunes itself is lazy at this end: its peer's prune is taken,
// not answered with a graft that would have the peer push on it again.
func TestOwnPruneEndsTheKeep(t *testing.T) {
	now := time.Unix(1, 0)
	tr, r, gossip := keptLink(t, &now)
	deliveredThenDuplicate(t, gossip, 15, 3, 1)
	if got := r.count(1, codec.KindPrune); got != 1 {
		t.Fatalf("%d prunes on link 1 after a duplicate of a broadcast whose first copy came on link 3, want 1", got)
	}
	peerPrunes(t, tr, r, 1, 0)
	pushed := r.count(1, codec.KindGossip)
	if !gossip(3, 16) || r.count(1, codec.KindGossip) != pushed {
		t.Fatal("broadcast 16 from link 3: want it delivered and not pushed on the pruned link 1")
	}
}

// keptLink is twoTreeLinks with a third link, eager, where link 2 was
// pruned here and then brought broadcast 12's first copy (stale), whose
// duplicate on link 1 kept link 1 as the tree's path.
func keptLink(t *testing.T, now *time.Time) (*Tree[int], recorder, func(from int, id uint64) bool) {
	t.Helper()
	tr, r, gossip := twoTreeLinks(t, now)
	tr.LinkUp(3, true)
	deliveredThenDuplicate(t, gossip, 11, 1, 2)
	deliveredThenDuplicate(t, gossip, 12, 2, 1)
	return tr, r, gossip
}

// peerPrunes has link's peer prune it and checks that the grafts sent on
// link so far number grafts.
func peerPrunes(t *testing.T, tr *Tree[int], r recorder, link, grafts int) {
	t.Helper()
	if err := tr.Prune(r.send, link, nil); err != nil {
		t.Fatal(err)
	}
	if got := r.count(link, codec.KindGraft); got != grafts {
		t.Fatalf("%d grafts on link %d after its peer pruned it, want %d", got, link, grafts)
	}
}

// lazyMiddle is twoTreeLinks with a third link, eager, and link 2 pruned
// by its peer: eager links 1 and 3, lazy link 2.
func lazyMiddle(t *testing.T, now *time.Time) (*Tree[int], recorder, func(from int, id uint64) bool) {
	t.Helper()
	tr, r, gossip := twoTreeLinks(t, now)
	tr.LinkUp(3, true)
	if err := tr.Prune(r.send, 2, nil); err != nil {
		t.Fatal(err)
	}
	return tr, r, gossip
}

// offerAndFlush has link 2 announce id with ttl, then runs the tick one
// AnnounceEvery later, and returns AnnounceEvery.
func offerAndFlush(t *testing.T, tr *Tree[int], r recorder, now *time.Time, id uint64, ttl uint8) time.Duration {
	t.Helper()
	if err := tr.IHave(r.send, 2, proto.AppendIHave(nil, []proto.Have{{ID: id, TTL: ttl}})); err != nil {
		t.Fatal(err)
	}
	*now = now.Add(tr.cfg.AnnounceEvery)
	tr.Tick(r.send)
	return tr.cfg.AnnounceEvery
}

// TestUpgradeWaitsForItsLink: a better budget for a broadcast already
// pushed or announced goes out on a link with ids of its own due, and
// otherwise waits upgradeWait flushes: an eager link, sent no first
// announcements, gets its budgets several broadcasts to a frame.
func TestUpgradeWaitsForItsLink(t *testing.T) {
	now := time.Unix(1, 0)
	tr, r, gossip := lazyMiddle(t, &now)
	if !gossip(1, 11) {
		t.Fatal("broadcast 11 not delivered")
	}
	// Link 2 (lazy) offers 11 with 4 more hops than link 1's copy: the
	// better budget is due on links 1 and 3, which hold less.
	every := offerAndFlush(t, tr, r, &now, 11, 9)
	if r.count(1, codec.KindIHave)+r.count(3, codec.KindIHave) != 0 {
		t.Fatal("the better budget went out with the first flush on links that had no id of their own due")
	}
	now = now.Add((upgradeWait - 1) * every)
	tr.Tick(r.send)
	if r.count(1, codec.KindIHave) != 1 || r.count(3, codec.KindIHave) != 1 {
		t.Fatalf("%d and %d ihaves on links 1 and 3 after %d flushes, want 1 each", r.count(1, codec.KindIHave), r.count(3, codec.KindIHave), upgradeWait)
	}
}

// TestRelaysNoSecondCopyToAHolder: a node whose copy came with ttl 0
// relays nothing; when a better budget is announced, it relays the
// broadcast, pushing it on its eager links that have no copy (link 3) and
// announcing the budget on the one that does (link 1, which pushed the
// copy). Pushing it there too would be a duplicate, and that peer would
// prune its own tree link to this node.
func TestRelaysNoSecondCopyToAHolder(t *testing.T) {
	now := time.Unix(1, 0)
	tr, r, _ := lazyMiddle(t, &now)
	payload := proto.AppendGossip(nil, proto.PeerID{Name: "o", Addr: "127.0.0.1:1"}, []byte("x"))
	if !tr.Gossip(r.send, 1, 0, 0, 11, payload) {
		t.Fatal("broadcast 11 not delivered")
	}
	if got := r.count(1, codec.KindGossip) + r.count(3, codec.KindGossip); got != 0 {
		t.Fatalf("a copy with ttl 0 relayed %d times", got)
	}
	if err := tr.IHave(r.send, 2, proto.AppendIHave(nil, []proto.Have{{ID: 11, TTL: 5}})); err != nil {
		t.Fatal(err)
	}
	if r.count(3, codec.KindGossip) != 1 {
		t.Fatal("the better budget did not push broadcast 11 on link 3, which has no copy")
	}
	if r.count(1, codec.KindGossip) != 0 {
		t.Fatal("broadcast 11 pushed back on link 1, which sent it")
	}
	now = now.Add(tr.cfg.AnnounceEvery)
	tr.Tick(r.send)
	if r.count(1, codec.KindIHave) != 1 {
		t.Fatalf("%d ihaves on link 1, want the better budget announced once", r.count(1, codec.KindIHave))
	}
}

// TestUpgradeHurriesToACopyThatRanOut: a better budget goes with the next
// flush to a link whose copy carried ttl 0 (link 3, pushed it by this
// node with the last hop of its budget): its peer relayed nothing, and
// the nodes past it wait for this. A link whose copy could go on (link 1,
// which sent the copy) waits upgradeWait flushes.
func TestUpgradeHurriesToACopyThatRanOut(t *testing.T) {
	now := time.Unix(1, 0)
	tr, r, _ := lazyMiddle(t, &now)
	payload := proto.AppendGossip(nil, proto.PeerID{Name: "o", Addr: "127.0.0.1:1"}, []byte("x"))
	if !tr.Gossip(r.send, 1, 0, 1, 11, payload) || r.count(3, codec.KindGossip) != 1 {
		t.Fatal("broadcast 11 (ttl 1) not delivered and pushed on link 3")
	}
	every := offerAndFlush(t, tr, r, &now, 11, 9)
	if r.count(3, codec.KindIHave) != 1 || r.count(1, codec.KindIHave) != 0 {
		t.Fatalf("after one flush: %d ihaves on link 3 (its copy ran out), %d on link 1; want 1 and 0", r.count(3, codec.KindIHave), r.count(1, codec.KindIHave))
	}
	now = now.Add((upgradeWait - 1) * every)
	tr.Tick(r.send)
	if r.count(1, codec.KindIHave) != 1 {
		t.Fatalf("%d ihaves on link 1 after %d flushes, want 1", r.count(1, codec.KindIHave), upgradeWait)
	}
}
