package broadcast

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/internal/graph"
)

// TestRadiusExactWhileBudgetsRace: broadcasts with small ttls from random
// origins, several in flight, frames jittered so the tree's paths and the
// shortest ones race: exactly the nodes within ttl+1 hops deliver, each
// once, with and without flooding peers. Any scheme that relays better
// budgets more sparingly must keep this.
func TestRadiusExactWhileBudgetsRace(t *testing.T) {
	for _, c := range []struct {
		deg     float64
		flooded int // every flooded-th node only floods; 0: none
	}{{4, 0}, {6, 0}, {4, 4}, {6, 3}} {
		t.Run(fmt.Sprintf("degree=%v/flooding=1in%d", c.deg, c.flooded), func(t *testing.T) {
			const n = 200
			edges := graph.Random(n, c.deg, rand.New(rand.NewPCG(21, uint64(c.deg))))
			flood := map[int]bool{}
			for i := 0; c.flooded > 0 && i < n; i += c.flooded {
				flood[i] = true
			}
			s := newSim(t, n, edges, 21, flood)
			s.jitter, s.jitterMax = true, 10*time.Millisecond
			for range 20 { // shape the tree from other origins
				s.broadcast(s.rng.IntN(n), 16)
				s.run(s.now.Add(5 * time.Millisecond))
			}
			s.settle()
			type sent struct {
				id          uint64
				origin, ttl int
			}
			var all []sent
			for range 60 {
				o, ttl := s.rng.IntN(n), 1+s.rng.IntN(6)
				all = append(all, sent{s.broadcast(o, uint8(ttl)), o, ttl})
				s.run(s.now.Add(3 * time.Millisecond))
			}
			s.settle()
			for _, b := range all {
				d := graph.Distances(n, edges, b.origin)
				s.checkOnce(b.id, func(i int) bool { return d[i] <= b.ttl+1 })
			}
		})
	}
}

// TestCopyThatCouldGoNoFurtherIsRelayedWhenABetterBudgetComes: node 1 is
// reached first over a long path, with a copy of ttl 0 (it can relay it to
// no one), then over a short one with more. It relays the better copy to
// its leaf, node 2, as it would a first copy: pushed at once on its eager
// link, not left for the leaf to graft.
func TestCopyThatCouldGoNoFurtherIsRelayedWhenABetterBudgetComes(t *testing.T) {
	// 0-3-4-5-1 (fast) and 0-1 (slow); 1-2.
	edges := [][2]int{{0, 3}, {3, 4}, {4, 5}, {1, 5}, {0, 1}, {1, 2}}
	s := newSim(t, 6, edges, 22, nil)
	for _, e := range edges {
		s.links[e].latency = time.Millisecond
	}
	s.links[key(0, 1)].latency = 30 * time.Millisecond
	id := s.broadcast(0, 3) // 0-3-4-5-1 arrives with ttl 0; 0-1 with ttl 3
	s.run(s.now.Add(40 * time.Millisecond))
	if got := s.nodes[2].delivered[id]; got != 1 {
		t.Fatalf("leaf delivered %d times 40 ms in, want 1: the better copy was not pushed on", got)
	}
	s.settle()
	s.checkOnce(id, everyone)
	if g := s.nodes[2].tree.Stats().GraftsSent; g != 0 {
		t.Fatalf("the leaf grafted %d times", g)
	}
}
