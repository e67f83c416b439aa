package broadcast

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/internal/graph"
)

// scaleRun is what one simulated run of BenchmarkTreeScale measured.
type scaleRun struct {
	copies, control, upgrades float64 // per delivery
	frames                    float64 // control frames per delivery
	ticks                     float64 // Tick calls per delivery
	grafts, prunes            float64 // per broadcast
	lastP50, lastP99          time.Duration
}

// simScale runs the bench's broadcast scenario on the simulation: n nodes
// on a random graph of mean degree 6, link latencies in [lo, hi) plus up
// to jitter per frame, 20 broadcasts one at a time to shape the tree, then
// count broadcasts from random origins with at most inflight undelivered.
// Everything is counted over the second phase only.
func simScale(tb testing.TB, n, count, inflight int, lo, hi, jitter time.Duration, flood bool) scaleRun {
	edges := graph.Random(n, 6, rand.New(rand.NewPCG(1, 1)))
	fl := map[int]bool{}
	if flood {
		for i := range n {
			fl[i] = true
		}
	}
	s := newSim(tb, n, edges, 1, fl)
	for _, e := range edges {
		s.links[e].latency = lo + time.Duration(s.rng.Int64N(int64(hi-lo)+1))
	}
	s.jitter, s.jitterMax = jitter > 0, jitter
	for range 20 {
		s.broadcast(s.rng.IntN(n), 16)
		s.settle()
	}
	sum := func() (st Stats, payloads int) {
		for _, nd := range s.nodes {
			st.IHavesSent += uint64(nd.sent[codec.KindIHave] + nd.sent[codec.KindGraft] + nd.sent[codec.KindPrune])
			x := nd.tree.Stats()
			st.ControlBytes += x.ControlBytes
			st.GraftsSent += x.GraftsSent
			st.PrunesSent += x.PrunesSent
			st.Upgrades += x.Upgrades
		}
		return st, s.payloads()
	}
	st0, p0 := sum()
	ticks0 := s.ticks
	got := map[uint64]int{}
	start := map[uint64]time.Time{}
	var lasts []time.Duration
	open, delivered := 0, 0
	s.onDeliver = func(_ int, id uint64) {
		t0, ok := start[id]
		if !ok {
			return
		}
		delivered++
		if got[id]++; got[id] == n-1 {
			lasts = append(lasts, s.now.Sub(t0))
			open--
		}
	}
	for sent := 0; sent < count || open > 0; {
		if sent < count && open < inflight {
			id := s.rng.Uint64() | 1
			start[id] = s.now
			s.broadcastID(id, s.rng.IntN(n), 16)
			sent++
			open++
			continue
		}
		if s.q.Len() == 0 {
			tb.Fatalf("%d broadcasts never reached every node", open)
		}
		s.run(s.now.Add(time.Millisecond))
	}
	s.settle()
	st, p := sum()
	slices.Sort(lasts)
	d := float64(delivered)
	return scaleRun{
		copies:   float64(p-p0) / d,
		frames:   float64(st.IHavesSent-st0.IHavesSent) / d,
		ticks:    float64(s.ticks-ticks0) / d,
		control:  float64(st.ControlBytes-st0.ControlBytes) / d,
		upgrades: float64(st.Upgrades-st0.Upgrades) / d,
		grafts:   float64(st.GraftsSent-st0.GraftsSent) / float64(count),
		prunes:   float64(st.PrunesSent-st0.PrunesSent) / float64(count),
		lastP50:  lasts[len(lasts)/2],
		lastP99:  lasts[len(lasts)*99/100],
	}
}

// BenchmarkTreeScale reports, for the bench's broadcast scenario simulated
// at 500 and 1,000 nodes, quiet (1-5 ms links), jittery (frames delayed
// up to 20 ms more, as loops scheduled late) and loaded (20-80 ms links,
// frames jittered up to 40 ms, as a process of 1,000 nodes on 2 cores
// lags), the trees' payload copies, control bytes and ttl upgrades per
// delivery, grafts and prunes per broadcast, and their last-delivery p50
// and p99 over flooding's on the same graph and latencies.
func BenchmarkTreeScale(b *testing.B) {
	for _, n := range []int{500, 1000} {
		for _, load := range []struct {
			name           string
			lo, hi, jitter time.Duration
		}{{"quiet", time.Millisecond, 5 * time.Millisecond, 0}, {"jittery", time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond}, {"loaded", 20 * time.Millisecond, 80 * time.Millisecond, 40 * time.Millisecond}} {
			b.Run(fmt.Sprintf("nodes=%d/%s", n, load.name), func(b *testing.B) {
				for range b.N {
					tr := simScale(b, n, 100, 4, load.lo, load.hi, load.jitter, false)
					fl := simScale(b, n, 100, 4, load.lo, load.hi, load.jitter, true)
					b.ReportMetric(tr.copies, "copies/delivery")
					b.ReportMetric(tr.control, "controlB/delivery")
					b.ReportMetric(tr.frames, "ctlframes/delivery")
					b.ReportMetric(tr.ticks, "ticks/delivery")
					b.ReportMetric(tr.upgrades, "upgrades/delivery")
					b.ReportMetric(tr.grafts, "grafts/bcast")
					b.ReportMetric(tr.prunes, "prunes/bcast")
					b.ReportMetric(float64(tr.lastP50)/float64(fl.lastP50), "p50/flood")
					b.ReportMetric(float64(tr.lastP99)/float64(fl.lastP99), "p99/flood")
					b.ReportMetric(float64(tr.lastP99.Milliseconds()), "p99ms")
					b.ReportMetric(float64(fl.lastP99.Milliseconds()), "floodp99ms")
				}
			})
		}
	}
}
