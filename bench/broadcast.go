package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/antnet-p2p/antnet/broadcast"
	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/engine"
	"github.com/antnet-p2p/antnet/internal/graph"
	"github.com/antnet-p2p/antnet/proto"
	"github.com/antnet-p2p/antnet/secure"
)

// broadcast: N antnet nodes in this process on a random connected graph,
// persistent links, every node with one event loop.

const broadcastDescription = "N engine.Nodes in this process (WithEventLoops(1) each) on a seeded random connected graph " +
	"(random spanning tree plus random extra edges up to average degree D), one persistent link per edge (AddRoute from the lower index); " +
	"every handler counts each broadcast per node (the body carries a sequence number); " +
	"coverage: one Broadcast at a time from a random origin, timed until all N-1 other handlers saw it (p50/p99 are this coverage time); " +
	"throughput: Broadcast back to back from random origins with at most 32 broadcasts undelivered, " +
	"ops/s = handler deliveries / (N-1) per second; frames/bcast = Σ Stats.GossipForwarded / broadcasts; " +
	"copies/delivery, control B/delivery and wire B/delivery are taken over the throughput phase, after the coverage phase shaped the tree: " +
	"Σ GossipForwarded, Σ BroadcastStats.ControlBytes and Σ Stats.BytesOut (every byte written, sealed, keepalives included) per handler delivery; " +
	"-flood rows: the same nodes with WithBroadcastFlooding, the baseline; before any of it, 10 broadcasts one at a time shape the trees"

// bcastWindow is how many broadcasts the throughput phase keeps undelivered.
const bcastWindow = 32

// bcastMaxSeq bounds the sequence numbers one row issues (per-node bitsets).
const bcastMaxSeq = 1 << 21

const bcastSeed = 1

// bcastShape is how many broadcasts shape the network before it is measured.
const bcastShape = 10

func broadcastCases(cfg *config) []caseSpec {
	nodes := cfg.nodeCount(64, 16)
	var cs []caseSpec
	for _, s := range pick(cfg.payload, []int{128}, []int{128}, cfg) {
		ps := params{{"nodes", nodes}, {"degree", 6}, {"payload", s}, {"seed", bcastSeed}}
		for _, impl := range []string{implAntnet, implAntnetFlood, implAntnetSecure, implAntnetSecureFlood} {
			secureLinks := impl == implAntnetSecure || impl == implAntnetSecureFlood
			flood := impl == implAntnetFlood || impl == implAntnetSecureFlood
			cs = append(cs, caseSpec{
				scenario: "broadcast", impl: impl, params: ps, group: ps.String(),
				run: func(r *Result) error {
					return broadcastRun(secureLinks, flood, nodes, 6, max(s, 8), cfg, r)
				},
			})
		}
	}
	return cs
}

// bcastRecv is one node's record of the broadcasts its handler saw. seen
// is written by the node's single event loop only.
type bcastRecv struct {
	seen []uint64 // bitset over sequence numbers
	dups atomic.Int64
	bad  atomic.Int64 // bodies without a valid sequence number
}

// bcastNet is the nodes and the shared delivery counter.
type bcastNet struct {
	nodes  []*engine.Node
	recv   []*bcastRecv
	edges  [][2]int
	total  atomic.Int64 // first deliveries to handlers, all nodes
	target atomic.Int64 // signal when total reaches it
	sig    chan struct{}
}

func (b *bcastNet) handler(r *bcastRecv) proto.Handler {
	return proto.HandlerFunc(func(ctx proto.Context, msg []byte) ([]byte, error) {
		if ctx.Kind() != codec.KindGossip {
			return nil, nil
		}
		if len(msg) < 8 {
			r.bad.Add(1)
			return nil, nil
		}
		seq := binary.LittleEndian.Uint64(msg)
		if seq >= bcastMaxSeq {
			r.bad.Add(1)
			return nil, nil
		}
		w, bit := seq>>6, uint64(1)<<(seq&63)
		if r.seen[w]&bit != 0 {
			r.dups.Add(1)
			return nil, nil
		}
		r.seen[w] |= bit
		if b.total.Add(1) == b.target.Load() {
			select {
			case b.sig <- struct{}{}:
			default:
			}
		}
		return nil, nil
	})
}

// waitTotal waits until the handlers have delivered t broadcasts in all,
// or d passes.
func (b *bcastNet) waitTotal(t int64, d time.Duration) bool {
	select {
	case <-b.sig: // a stale signal
	default:
	}
	b.target.Store(t)
	if b.total.Load() >= t {
		return true
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	for b.total.Load() < t {
		select {
		case <-b.sig:
		case <-timer.C:
			return b.total.Load() >= t
		}
	}
	return true
}

func startBcastNet(secureLinks, flood bool, n, deg int) (*bcastNet, error) {
	b := &bcastNet{edges: graph.Seeded(n, deg, bcastSeed), sig: make(chan struct{}, 1)}
	impl := implAntnet
	if secureLinks {
		impl = implAntnetSecure
	}
	if flood {
		impl += "-flood"
	}
	var err error
	pprof.Do(context.Background(), pprof.Labels("side", "server", "impl", impl), func(context.Context) {
		for i := 0; i < n; i++ {
			r := &bcastRecv{seen: make([]uint64, bcastMaxSeq/64)}
			opts := []engine.Option{engine.WithEventLoops(1)}
			if flood {
				opts = append(opts, engine.WithBroadcastFlooding())
			}
			if secureLinks {
				id, gerr := secure.Generate()
				if gerr != nil {
					err = gerr
					return
				}
				opts = append(opts, engine.WithIdentity(id))
			}
			nd, nerr := engine.New(fmt.Sprintf("b%02d", i), "127.0.0.1:0", b.handler(r), opts...)
			if nerr == nil {
				nerr = nd.Start()
			}
			if nerr != nil {
				err = fmt.Errorf("node %d: %w", i, nerr)
				return
			}
			b.nodes = append(b.nodes, nd)
			b.recv = append(b.recv, r)
		}
	})
	if err != nil {
		b.close()
		return nil, err
	}
	// Link every edge, 16 handshakes at a time.
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		lerr error
		sem  = make(chan struct{}, 16)
	)
	for _, e := range b.edges {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			to := b.nodes[e[1]]
			if err := b.nodes[e[0]].AddRoute(to.ID().Name, to.Addr()); err != nil {
				mu.Lock()
				if lerr == nil {
					lerr = fmt.Errorf("link %d-%d: %w", e[0], e[1], err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if lerr != nil {
		b.close()
		return nil, lerr
	}
	// Wait until both ends of every link have it in their route table.
	degs := b.degrees()
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; i < n; {
		if b.nodes[i].Stats().PersistentLinks >= int64(degs[i]) {
			i++
			continue
		}
		if time.Now().After(deadline) {
			err := fmt.Errorf("node %d has %d links, want %d", i, b.nodes[i].Stats().PersistentLinks, degs[i])
			b.close()
			return nil, err
		}
		time.Sleep(5 * time.Millisecond)
	}
	return b, nil
}

func (b *bcastNet) degrees() []int { return graph.Degrees(len(b.nodes), b.edges) }

// bcastCosts are the network's counters a row takes its per-broadcast and
// per-delivery figures from.
type bcastCosts struct {
	forwarded, dropped, again uint64          // Stats: gossip frames sent, duplicates, relays for a better ttl
	bytesOut                  uint64          // Stats.BytesOut
	tree                      broadcast.Stats // the trees' counters, summed
}

// costs sums every node's counters.
func (b *bcastNet) costs() (c bcastCosts) {
	for _, nd := range b.nodes {
		st, ts := nd.Stats(), nd.BroadcastStats()
		c.forwarded += st.GossipForwarded
		c.dropped += st.GossipDuplicates
		c.again += st.GossipReforwarded
		c.bytesOut += st.BytesOut
		c.tree.Add(ts)
	}
	return c
}

// waitFramesLanded waits, up to d, until every gossip frame the nodes sent
// has been received (delivered or dropped as a duplicate).
func (b *bcastNet) waitFramesLanded(d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		var sent, got uint64
		for _, nd := range b.nodes {
			st := nd.Stats()
			sent += st.GossipForwarded
			got += st.GossipDelivered + st.GossipDuplicates
		}
		if sent == got {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// close closes every node at once (each Close is graceful).
func (b *bcastNet) close() error {
	var wg sync.WaitGroup
	errs := make([]error, len(b.nodes))
	for i, nd := range b.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = nd.Close()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// broadcastRun measures coverage time, then throughput, on one network.
func broadcastRun(secureLinks, flood bool, n, deg, payload int, cfg *config, r *Result) error {
	if n < 2 || n > 1<<16 {
		return fmt.Errorf("broadcast: %d nodes, want 2..65536", n)
	}
	b, err := startBcastNet(secureLinks, flood, n, deg)
	if err != nil {
		return err
	}
	defer closeNamed("nodes", b.close, r)
	c0 := b.costs()

	rng := rand.New(rand.NewPCG(bcastSeed, 0x6f726967))
	msg := make([]byte, payload)
	origins := make([]uint16, 0, 1<<16) // origin of each sequence number
	others := int64(n - 1)
	var issued int64 // broadcasts issued
	var berr error
	var berrs int64
	fire := func() bool {
		if issued >= bcastMaxSeq {
			return false
		}
		o := rng.IntN(n)
		binary.LittleEndian.PutUint64(msg, uint64(issued))
		origins = append(origins, uint16(o))
		issued++
		if _, err := b.nodes[o].Broadcast(msg); err != nil {
			if berrs == 0 {
				berr = err
			}
			berrs++
		}
		return true
	}

	// Shape: bcastShape broadcasts one at a time, unmeasured, so the
	// trees prune their cycles before anything is timed (the flooding
	// rows run them too).
	for range bcastShape {
		if !fire() {
			return errors.New("sequence numbers exhausted")
		}
		if !b.waitTotal(issued*others, 5*time.Second) {
			return fmt.Errorf("shaping: broadcast %d reached %d of %d nodes in 5s", issued-1,
				b.total.Load()-(issued-1)*others, others)
		}
	}

	// Coverage: one broadcast at a time.
	var cov hist
	var covOps int64
	var covErr error
	w := newWindow()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !w.stop.Load() {
			t0 := w.now()
			if !fire() {
				covErr = errors.New("sequence numbers exhausted")
				return
			}
			if !b.waitTotal(issued*others, 5*time.Second) {
				covErr = fmt.Errorf("broadcast %d reached %d of %d nodes in 5s", issued-1,
					b.total.Load()-(issued-1)*others, others)
				return
			}
			if w.recording.Load() {
				cov.record(w.now() - t0)
				covOps++
			}
		}
	}()
	w.run(cfg.warmup, cfg.duration, done)
	<-done
	if covErr != nil {
		return fmt.Errorf("coverage: %w", covErr)
	}
	var covTotal histTotal
	covTotal.add(&cov)

	// Throughput: back to back, at most bcastWindow broadcasts undelivered.
	// The per-delivery costs are taken over it: the tree has formed.
	b.waitFramesLanded(5 * time.Second)
	t0 := b.costs()
	tissued0 := issued
	var tputErr error
	var d0, d1 int64
	w = newWindow()
	w.hook = func(ev string) {
		switch ev {
		case "rec":
			d0 = b.total.Load()
		case "stop":
			d1 = b.total.Load()
		}
	}
	done = make(chan struct{})
	go func() {
		defer close(done)
		for !w.stop.Load() {
			if !b.waitTotal((issued-bcastWindow+1)*others, 5*time.Second) {
				tputErr = fmt.Errorf("no progress in 5s with %d broadcasts undelivered", bcastWindow)
				return
			}
			if !fire() {
				tputErr = errors.New("sequence numbers exhausted")
				return
			}
		}
	}()
	st := w.run(cfg.warmup, cfg.duration, done)
	<-done
	// Quiesce: every broadcast delivered everywhere (or not: counted below),
	// and every frame sent received (a node may still forward after the
	// last delivery).
	b.waitTotal(issued*others, 5*time.Second)
	b.waitFramesLanded(5 * time.Second)
	c1 := b.costs()
	if tb := float64(max(issued-tissued0, 1)); !flood {
		r.addNote(fmt.Sprintf("throughput phase per broadcast: %.2f prunes, %.2f grafts, %.2f ttl upgrades",
			float64(c1.tree.PrunesSent-t0.tree.PrunesSent)/tb, float64(c1.tree.GraftsSent-t0.tree.GraftsSent)/tb, float64(c1.again-t0.again)/tb))
	}
	if deliveries := float64((issued - tissued0) * others); deliveries > 0 {
		r.CopiesPerDelivery = float64(c1.forwarded-t0.forwarded) / deliveries
		r.ControlBytesPerDelivery = float64(c1.tree.ControlBytes-t0.tree.ControlBytes) / deliveries
		r.WireBytesPerDelivery = float64(c1.bytesOut-t0.bytesOut) / deliveries
	}

	// Every node reached by every broadcast, nothing delivered twice?
	var dups, bad int64
	for _, rc := range b.recv {
		dups += rc.dups.Load()
		bad += rc.bad.Load()
	}
	short, minReached := 0, n-1
	for seq := int64(0); seq < issued; seq++ {
		word, bit := seq>>6, uint64(1)<<(seq&63)
		reached := 0
		for i, rc := range b.recv {
			if i != int(origins[seq]) && rc.seen[word]&bit != 0 {
				reached++
			}
		}
		if reached < n-1 {
			short++
			minReached = min(minReached, reached)
		}
	}

	r.Params = append(r.Params[:len(r.Params):len(r.Params)], kv{"edges", len(b.edges)})
	r.OpsPerSec = float64(d1-d0) / float64(others) / st.elapsed.Seconds()
	r.Ops = (d1 - d0) / others
	r.Seconds = st.elapsed.Seconds()
	r.Goroutines = st.goroutines
	if r.Ops > 0 {
		r.AllocsPerOp = float64(st.mallocs) / float64(r.Ops)
		r.CPUusPerOp = float64(st.cpu) / 1e3 / float64(r.Ops)
	}
	r.P50us = float64(covTotal.quantile(0.50)) / 1e3
	r.P99us = float64(covTotal.quantile(0.99)) / 1e3
	r.CoverageP50us, r.CoverageP99us = r.P50us, r.P99us
	r.Duplicates = &dups
	all := short == 0
	r.ReachedAll = &all
	r.Nodes = n
	r.SumDegrees = 2 * len(b.edges)
	if issued > 0 {
		r.FramesPerMsg = float64(c1.forwarded-c0.forwarded) / float64(issued)
		r.ReforwardedPerMsg = float64(c1.again-c0.again) / float64(issued)
	}
	r.Broadcasts = issued
	r.addNote(fmt.Sprintf("%d broadcasts (%d timed one at a time); engine dropped %.1f copies/bcast; flooding bound 2E-(N-1) = %d frames",
		issued, covOps, float64(c1.dropped-c0.dropped)/float64(max(issued, 1)), 2*len(b.edges)-(n-1)))
	var errs []error
	if tputErr != nil {
		errs = append(errs, fmt.Errorf("throughput: %w", tputErr))
	}
	if short > 0 {
		errs = append(errs, fmt.Errorf("%d of %d broadcasts missed nodes (worst reached %d of %d)", short, issued, minReached, n-1))
	}
	if dups > 0 {
		errs = append(errs, fmt.Errorf("%d duplicate deliveries to handlers", dups))
	}
	if bad > 0 {
		errs = append(errs, fmt.Errorf("%d deliveries with a bad body", bad))
	}
	if berrs > 0 {
		errs = append(errs, fmt.Errorf("%d Broadcast calls failed, first: %w", berrs, berr))
	}
	return errors.Join(errs...)
}
