package broadcast

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/internal/graph"
	"github.com/antnet-p2p/antnet/proto"
)

// The hostile peers below run in place of a tree at one node of the
// simulation; every other node must go on delivering every broadcast
// exactly once, and what the hostile node makes an honest one hold or
// send stays within the bounds of limits.go.

// sink never relays: it takes payloads and sends nothing.
func sink(*sim, *simNode, int, codec.Frame) {}

// pruner prunes every link a payload comes on and relays nothing.
func pruner(s *sim, n *simNode, from int, f codec.Frame) {
	if f.Kind == codec.KindGossip {
		s.transmit(n.id, from, codec.AppendHeader(nil, codec.KindPrune, 0, 0, 0, 0))
	}
}

// hostileNet is a random graph of n nodes where node 0 behaves as h.
func hostileNet(t *testing.T, n int, seed uint64, h func(*sim, *simNode, int, codec.Frame)) (*sim, [][2]int) {
	edges := graph.Random(n, 6, rand.New(rand.NewPCG(seed, seed)))
	s := newSim(t, n, edges, seed, nil)
	s.nodes[0].hostile = h
	return s, edges
}

// neighbours of node 0.
func neighbours(edges [][2]int) (out []int) {
	for _, e := range edges {
		if e[0] == 0 {
			out = append(out, e[1])
		}
	}
	return out
}

// honestOnly reports the honest nodes other than the origin.
func honestOnly(i int) bool { return i != 0 }

func TestHostileSinkAndPruner(t *testing.T) {
	for _, c := range []struct {
		name string
		h    func(*sim, *simNode, int, codec.Frame)
	}{{"never forwards", sink}, {"prunes every link", pruner}} {
		t.Run(c.name, func(t *testing.T) {
			const n = 200
			s, _ := hostileNet(t, n, 11, c.h)
			for range 60 {
				id := s.broadcast(1+s.rng.IntN(n-1), 16)
				s.run(s.now.Add(10 * time.Millisecond))
				defer s.checkOnce(id, honestOnly)
			}
			s.settle()
		})
	}
}

// TestHostileAnnouncer: node 0 announces thousands of ids it never sends,
// as fast as it can. Honest nodes wait for at most MaxMissingPerLink of
// them from it, graft each at most once from it, and keep delivering
// real broadcasts.
func TestHostileAnnouncer(t *testing.T) {
	const n = 100
	s, edges := hostileNet(t, n, 12, sink)
	fake := uint64(1 << 40)
	flood := func() { // 64 fake ids to every neighbour, 50 frames each
		for _, nb := range neighbours(edges) {
			for range 50 {
				haves := make([]proto.Have, proto.MaxTreeIDs)
				for i := range haves {
					fake++
					haves[i] = proto.Have{ID: fake, TTL: 15}
				}
				s.transmit(0, nb, codec.Append(nil, codec.Frame{Kind: codec.KindIHave, Payload: proto.AppendIHave(nil, haves)}))
			}
		}
	}
	var ids []uint64
	for range 40 {
		flood()
		ids = append(ids, s.broadcast(1+s.rng.IntN(n-1), 16))
		s.run(s.now.Add(50 * time.Millisecond))
		for _, nb := range neighbours(edges) {
			// The bound is on the ids the liar announced first; real
			// broadcasts announced before their copy come wait besides.
			s.nodes[nb].tree.mu.Lock()
			m := s.nodes[nb].tree.links[0].missing
			s.nodes[nb].tree.mu.Unlock()
			if m > MaxMissingPerLink {
				t.Fatalf("node %d waits for %d ids the liar announced first (bound %d)", nb, m, MaxMissingPerLink)
			}
		}
	}
	s.settle()
	for _, id := range ids {
		s.checkOnce(id, honestOnly)
	}
	for _, nb := range neighbours(edges) {
		st := s.nodes[nb].tree.Stats()
		if st.IDsIgnored == 0 {
			t.Fatalf("node %d ignored none of %d fake ids: no bound applied", nb, fake-(1<<40))
		}
		if st.GraftsSent > st.IDsHeard {
			t.Fatalf("node %d grafted %d ids of %d heard: more than one graft each", nb, st.GraftsSent, st.IDsHeard)
		}
	}
}

// TestHostileGrafter: node 0 grafts every id it hears of, over and over.
// Each honest neighbour answers it at most GraftRate payloads a second
// (plus the first second's burst).
func TestHostileGrafter(t *testing.T) {
	const n = 100
	var heard []uint64
	known := map[uint64]bool{}
	grafter := func(s *sim, nd *simNode, from int, f codec.Frame) {
		if f.Kind == codec.KindGossip && !known[f.ID] {
			known[f.ID] = true
			heard = append(heard, f.ID)
		}
	}
	s, edges := hostileNet(t, n, 13, grafter)
	var ids []uint64
	for range 60 {
		ids = append(ids, s.broadcast(1+s.rng.IntN(n-1), 16))
		s.run(s.now.Add(10 * time.Millisecond))
	}
	s.run(s.now.Add(2 * time.Second)) // the broadcasts reached everyone, repairs included
	toGrafter := map[int]uint64{}     // payloads each neighbour sent node 0 since
	for _, nb := range neighbours(edges) {
		send := s.nodes[nb].send
		s.nodes[nb].send = func(l int, frame []byte) bool {
			if l == 0 && codec.Kind(frame[5]) == codec.KindGossip {
				toGrafter[nb]++
			}
			return send(l, frame)
		}
	}
	loopStart := s.now
	for range 100 { // 100 rounds of grafts for every id, 10 ms apart: 1 s
		for _, nb := range neighbours(edges) {
			for i := 0; i < len(heard); i += proto.MaxTreeIDs {
				chunk := heard[i:min(i+proto.MaxTreeIDs, len(heard))]
				s.transmit(0, nb, codec.Append(nil, codec.Frame{Kind: codec.KindGraft, Payload: proto.AppendGraft(nil, chunk)}))
			}
		}
		s.run(s.now.Add(10 * time.Millisecond))
	}
	elapsed := s.now.Sub(loopStart).Seconds()
	for _, nb := range neighbours(edges) {
		got := toGrafter[nb]
		if bound := uint64(GraftRate*elapsed) + GraftRate; got > bound || got < GraftRate {
			t.Fatalf("node %d sent the grafter %d payloads in %.1fs, want %d to %d", nb, got, elapsed, GraftRate, bound)
		}
	}
	s.settle()
	for _, id := range ids {
		s.checkOnce(id, honestOnly)
	}
}

// echoInflated sends every payload straight back on the link it came on
// with ttl 255: a duplicate that claims more ttl than the copy its
// receiver kept.
func echoInflated(s *sim, n *simNode, from int, f codec.Frame) {
	if f.Kind == codec.KindGossip {
		f.TTL = 255
		s.transmit(n.id, from, codec.Append(nil, f))
	}
}

// A peer that echoes every copy with a made-up ttl wins the swap of rule 4
// at most once per first copy it brought, here once: its neighbours keep
// honest eager links, and at most the broadcast after that swap is slow
// for each of them (a graft repairs the honest link it pruned).
func TestHostileInflatedEcho(t *testing.T) {
	const n = 100
	s, edges := hostileNet(t, n, 11, echoInflated)
	nbs := neighbours(edges)
	isNb := map[int]bool{}
	for _, nb := range nbs {
		isNb[nb] = true
	}
	start := map[uint64]time.Time{}
	slow := map[int]int{}
	s.onDeliver = func(node int, id uint64) {
		if isNb[node] && s.now.Sub(start[id]) > 200*time.Millisecond {
			slow[node]++
		}
	}
	var ids []uint64
	for range 60 {
		id := s.rng.Uint64() | 1
		start[id] = s.now
		s.broadcastID(id, 1+s.rng.IntN(n-1), 16)
		ids = append(ids, id)
		s.run(s.now.Add(time.Second))
	}
	s.settle()
	for _, id := range ids {
		s.checkOnce(id, honestOnly)
	}
	for _, nb := range nbs {
		tr := s.nodes[nb].tree
		honest := 0
		for l, lk := range tr.links {
			if l != 0 && lk.eager {
				honest++
			}
		}
		if honest == 0 || slow[nb] > 1 {
			t.Errorf("node %d beside the echo: %d honest eager links, %d of 60 deliveries over 200 ms, %+v", nb, honest, slow[nb], tr.Stats())
		}
	}
}
