package broadcast

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/internal/graph"
	"github.com/antnet-p2p/antnet/proto"
)

// depthRun is what one run of simDepth measured over its timed broadcasts.
type depthRun struct {
	meanHops, maxHops float64 // first copies' hops: mean over deliveries, mean over broadcasts of the deepest
	deepest           int     // the deepest first copy of all
	grafted, expired  float64 // fraction of broadcasts with a graft naming them, with a first copy that came with ttl 0
	lasts             []time.Duration
	st                Stats // the trees' counters over the timed broadcasts, per broadcast
}

// simDepth runs the engine bench's coverage phase on the simulation: n
// nodes on a random graph of mean degree 6 (graph seed seed), link
// latencies in [lo, hi) plus up to jitter per frame, shape broadcasts one
// at a time (each started once every node delivered the one before, as
// the bench does), then count more the same way, measured: how many hops
// the first copy of each broadcast took to each node, whether any node
// grafted it or got its first copy with ttl 0, and when the last node
// delivered it.
func simDepth(tb testing.TB, n int, seed uint64, shape, count int, lo, hi, jitter time.Duration) depthRun {
	edges := graph.Random(n, 6, rand.New(rand.NewPCG(seed, 1)))
	s := newSim(tb, n, edges, seed, nil)
	for _, e := range edges {
		s.links[e].latency = lo + time.Duration(s.rng.Int64N(int64(hi-lo)+1))
	}
	s.jitter, s.jitterMax = jitter > 0, jitter
	hops := map[uint64][]int{} // id -> first copy's hops at each node (0: none yet)
	grafted := map[uint64]bool{}
	expired := map[uint64]bool{}
	var ids []uint64
	s.trace = func(from, to int, f codec.Frame) {
		switch f.Kind {
		case codec.KindGossip:
			h := hops[f.ID]
			if h == nil || h[to] > 0 || to == s.origins[f.ID] {
				return
			}
			h[to] = h[from] + 1
			if f.TTL == 0 {
				expired[f.ID] = true
			}
		case codec.KindGraft:
			gids, _ := proto.ParseGraft(nil, f.Payload)
			for _, id := range gids {
				grafted[id] = true
			}
		}
	}
	got := map[uint64]int{}
	s.onDeliver = func(_ int, id uint64) { got[id]++ }
	var r depthRun
	sum := func() (st Stats) {
		for _, nd := range s.nodes {
			st.Add(nd.tree.Stats())
		}
		return st
	}
	var st0 Stats
	for k := range shape + count {
		if k == shape {
			s.settle()
			st0 = sum()
		}
		id := s.rng.Uint64() | 1
		hops[id] = make([]int, n)
		start := s.now
		s.broadcastID(id, s.rng.IntN(n), 16)
		for got[id] < n-1 {
			if s.q.Len() == 0 {
				tb.Fatalf("broadcast %d reached %d of %d nodes", k, got[id], n-1)
			}
			s.run(s.now.Add(time.Millisecond))
		}
		if k >= shape {
			ids = append(ids, id)
			r.lasts = append(r.lasts, s.now.Sub(start))
		}
	}
	s.settle()
	st := sum()
	c := uint64(count)
	r.st = Stats{PrunesSent: (st.PrunesSent - st0.PrunesSent) / c, GraftsSent: (st.GraftsSent - st0.GraftsSent) / c,
		Reparents: (st.Reparents - st0.Reparents) / c, Regrafts: (st.Regrafts - st0.Regrafts) / c, Upgrades: (st.Upgrades - st0.Upgrades) / c}
	deliveries := 0
	for _, id := range ids {
		s.checkOnce(id, everyone)
		m := slices.Max(hops[id])
		r.maxHops += float64(m)
		r.deepest = max(r.deepest, m)
		for _, h := range hops[id] {
			r.meanHops += float64(h)
		}
		deliveries += n - 1
		if grafted[id] {
			r.grafted++
		}
		if expired[id] {
			r.expired++
		}
	}
	r.meanHops /= float64(deliveries)
	r.maxHops /= float64(len(ids))
	r.grafted /= float64(len(ids))
	r.expired /= float64(len(ids))
	return r
}

// BenchmarkTreeDepth reports the shared tree's depth as the engine
// bench's one-at-a-time broadcasts see it (1,000 nodes, 4 graphs, 10
// broadcasts to shape the tree, 40 measured): first copies' hops (mean,
// mean of each broadcast's deepest, deepest of all), the fraction of
// broadcasts that some node grafted or got first with ttl 0, and the last
// delivery's p50 and p99; quiet (1-5 ms links), jittery (up to 20 ms more
// per frame) and loaded (20-80 ms links, up to 40 ms more per frame).
func BenchmarkTreeDepth(b *testing.B) {
	for _, load := range []struct {
		name           string
		lo, hi, jitter time.Duration
	}{{"quiet", time.Millisecond, 5 * time.Millisecond, 0}, {"jittery", time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond}, {"loaded", 20 * time.Millisecond, 80 * time.Millisecond, 40 * time.Millisecond}} {
		b.Run(fmt.Sprintf("nodes=1000/%s", load.name), func(b *testing.B) {
			for range b.N {
				var all depthRun
				const seeds = 4
				for seed := uint64(1); seed <= seeds; seed++ {
					r := simDepth(b, 1000, seed, 10, 40, load.lo, load.hi, load.jitter)
					all.meanHops += r.meanHops / seeds
					all.maxHops += r.maxHops / seeds
					all.deepest = max(all.deepest, r.deepest)
					all.grafted += r.grafted / seeds
					all.expired += r.expired / seeds
					all.lasts = append(all.lasts, r.lasts...)
					all.st.Add(r.st)
				}
				slices.Sort(all.lasts)
				b.ReportMetric(all.meanHops, "hops")
				b.ReportMetric(all.maxHops, "maxhops")
				b.ReportMetric(float64(all.deepest), "deepest")
				b.ReportMetric(all.grafted, "grafted")
				b.ReportMetric(all.expired, "ttl0")
				b.ReportMetric(float64(all.st.PrunesSent)/seeds, "prunes/bcast")
				b.ReportMetric(float64(all.st.GraftsSent)/seeds, "grafts/bcast")
				b.ReportMetric(float64(all.st.Reparents)/seeds, "reparents/bcast")
				b.ReportMetric(float64(all.st.Regrafts)/seeds, "regrafts/bcast")
				b.ReportMetric(float64(all.lasts[len(all.lasts)/2].Milliseconds()), "p50ms")
				b.ReportMetric(float64(all.lasts[len(all.lasts)*99/100].Milliseconds()), "p99ms")
			}
		})
	}
}
