package broadcast

import (
	"math/rand/v2"
	"testing"
	"time"
	"unsafe"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/internal/graph"
	"github.com/antnet-p2p/antnet/proto"
)

// TestQuietLinksHoldEightBytes: after broadcasts have made links lazy and
// sent ids both ways, a second of quiet leaves every link with no queues
// and no buckets: 8 bytes a link, as before the first broadcast.
func TestQuietLinksHoldEightBytes(t *testing.T) {
	if got := unsafe.Sizeof(link{}); got != 8 {
		t.Fatalf("a link is %d bytes, want 8", got)
	}
	const n = 60
	s := newSim(t, n, graph.Random(n, 6, rand.New(rand.NewPCG(3, 3))), 3, nil)
	for range 30 {
		s.broadcast(s.rng.IntN(n), 16)
		s.run(s.now.Add(20 * time.Millisecond))
	}
	busy := 0
	for _, nd := range s.nodes {
		busy += len(nd.tree.busy)
	}
	if busy == 0 {
		t.Fatal("no link holds queues or buckets while broadcasts flow: the test shows nothing")
	}
	s.settle()
	var st Stats
	for _, nd := range s.nodes {
		st.Add(nd.tree.Stats())
		for l := range nd.tree.busy {
			t.Fatalf("node %d: link to %d still holds its queues after the network went quiet", nd.id, l)
		}
	}
	if st.IDsAnnounced == 0 {
		t.Fatal("no ids were announced: the links never needed queues")
	}
}

// TestIHaveRateHoldsWhileLinksGoQuiet: a link announcing twice IHaveRate
// ids a second, in frames between the ticks that drop quiet links' state,
// gets no more ids heard than the burst plus the rate over the time.
func TestIHaveRateHoldsWhileLinksGoQuiet(t *testing.T) {
	now := time.Unix(1, 0)
	tr, err := New[int](Config{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	tr.LinkUp(1, true)
	r := recorder{}
	const seconds, perTick = 3, 2 * IHaveRate / 10
	id := uint64(1)
	haves := make([]proto.Have, proto.MaxTreeIDs)
	for range seconds * 10 {
		for sent := 0; sent < perTick; sent += len(haves) {
			for i := range haves {
				haves[i] = proto.Have{ID: id, TTL: 3}
				id++
			}
			frame := codec.Append(nil, codec.Frame{Kind: codec.KindIHave, Payload: proto.AppendIHave(nil, haves)})
			if err := tr.IHave(r.send, 1, frame[codec.HeaderSize:]); err != nil {
				t.Fatal(err)
			}
		}
		now = now.Add(100 * time.Millisecond)
		tr.Tick(r.send)
	}
	st := tr.Stats()
	if limit := uint64(IHaveRate * (1 + seconds)); st.IDsHeard > limit {
		t.Fatalf("%d ids heard in %d s from one link, bound %d", st.IDsHeard, seconds, limit)
	}
	if st.IDsIgnored == 0 {
		t.Fatal("nothing ignored at twice the rate")
	}
}
