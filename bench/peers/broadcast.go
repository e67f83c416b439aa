package main

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/antnet-p2p/antnet/broadcast"
	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/engine"
	"github.com/antnet-p2p/antnet/internal/graph"
	"github.com/antnet-p2p/antnet/proto"
)

const broadcastDescription = "N nodes in this process on the same seeded random connected graph (spanning tree plus chords to mean degree 6), " +
	"one plain TCP connection per edge (libp2p: TCP + yamux, insecure; antnet: a persistent link, one event loop per node); " +
	"M 256 B messages (an 8-byte sequence number, then random bytes) from random origins (same seed), at most K in flight " +
	"(published and not yet delivered to all N-1 others), after 20 warm-up messages (they let antnet's broadcast trees prune their cycles and GossipSub settle its mesh); " +
	"antnet: engine.Node.Broadcast and its handler; libp2p: one topic, Topic.Publish and one Subscription (buffer 1024) read by a goroutine per node, " +
	"pubsub with StrictNoSign, no author, message id = the sequence number, default GossipSub/FloodSub parameters, after the mesh formed; " +
	"coverage = deliveries to applications / (M × (N-1)); last p50/p99 = publish to the last node's delivery; " +
	"dup/deliv = payload copies a node received and dropped as already seen (antnet Stats.GossipDuplicates, pubsub tracer DuplicateMessage); " +
	"copies/deliv = payload copies sent (antnet Stats.GossipForwarded, pubsub tracer SendRPC's Publish entries); " +
	"TCP B/deliv = bytes sent and acknowledged on every TCP socket of this process (tcp_info.tcpi_bytes_acked, control traffic and " +
	"heartbeats included) from the first recorded publish to 250 ms after the last delivery, over deliveries; " +
	"cpu µs/msg = this process's CPU over the messages' span, per message"

// bcastPayload is the message size.
const bcastPayload = 256

// bcastWarm messages open every row unrecorded.
const bcastWarm = 20

// bcastStall is how long a row waits for any message to complete before
// it gives up those in flight; bcastRowLimit bounds the messages' phase.
const (
	bcastStall    = 10 * time.Second
	bcastRowLimit = 2 * time.Minute
)

// bcastSeed fixes the graph and the origins.
const bcastSeed = 1

// bcastNet is one stack's nodes, linked along the graph.
type bcastNet interface {
	publish(origin int, msg []byte) error
	// counters: payload copies sent, copies received and dropped as seen.
	counters() (sent, dropped uint64)
	// setupNote says what did not settle while the network formed.
	setupNote() string
	close() error
}

// deliveries is the record of what the applications saw. A node's seen
// bits are written by one goroutine (antnet: the node's one event loop;
// libp2p: its subscription's reader).
type deliveries struct {
	n       int
	origin  []int32
	count   []atomic.Int32 // deliveries to nodes other than the origin
	last    []atomic.Int64 // the latest of them, ns since base
	seen    [][]uint64     // per node, a bit per message
	handDup atomic.Int64   // deliveries of a message the node had
	bad     atomic.Int64
	done    chan int // a message reached all n-1 others
	base    time.Time
}

func newDeliveries(n, m int) *deliveries {
	d := &deliveries{n: n, origin: make([]int32, m), count: make([]atomic.Int32, m), last: make([]atomic.Int64, m),
		seen: make([][]uint64, n), done: make(chan int, m), base: time.Now()}
	for i := range d.seen {
		d.seen[i] = make([]uint64, (m+63)/64)
	}
	return d
}

// deliver records node's delivery of data.
func (d *deliveries) deliver(node int, data []byte) {
	if len(data) < 8 {
		d.bad.Add(1)
		return
	}
	seq := binary.BigEndian.Uint64(data)
	if seq >= uint64(len(d.count)) {
		d.bad.Add(1)
		return
	}
	if int(d.origin[seq]) == node {
		return // pubsub hands a node its own messages
	}
	w, bit := seq/64, uint64(1)<<(seq%64)
	if d.seen[node][w]&bit != 0 {
		d.handDup.Add(1)
		return
	}
	d.seen[node][w] |= bit
	now := int64(time.Since(d.base))
	for {
		old := d.last[seq].Load()
		if now <= old || d.last[seq].CompareAndSwap(old, now) {
			break
		}
	}
	if d.count[seq].Add(1) == int32(d.n-1) {
		d.done <- int(seq)
	}
}

func broadcastCases(cfg *config) []caseSpec {
	var cs []caseSpec
	for _, n := range cfg.nodes {
		ps := params{{"nodes", n}, {"degree", 6}, {"payload", bcastPayload}, {"messages", cfg.messages}, {"inflight", cfg.bcastInflight}}
		for _, impl := range []string{implGossipSub, implFloodSub, implAntnet} {
			cs = append(cs, caseSpec{"broadcast", impl, ps, func(r *Result) error {
				return broadcastRun(impl, n, cfg.messages, cfg.bcastInflight, r)
			}})
		}
	}
	return cs
}

func broadcastRun(impl string, n, m, inflight int, r *Result) error {
	if n < 2 {
		return fmt.Errorf("%d nodes: want at least 2", n)
	}
	edges := graph.Seeded(n, 6, bcastSeed)
	total := bcastWarm + m
	d := newDeliveries(n, total)
	var (
		net bcastNet
		err error
	)
	if impl == implAntnet {
		net, err = startAntnetBcast(n, edges, d)
	} else {
		net, err = startPubsubBcast(impl == implGossipSub, n, edges, d)
	}
	if err != nil {
		return err
	}
	defer net.close()
	r.Nodes, r.Edges = n, len(edges)
	if note := net.setupNote(); note != "" {
		r.addNote(note)
	}

	rng := mrand.New(mrand.NewPCG(bcastSeed, 0x6f726967))
	msg := make([]byte, bcastPayload)
	_, _ = rand.Read(msg)
	pub := make([]int64, total) // publish time, ns since d.base
	for seq := range total {
		d.origin[seq] = int32(rng.IntN(n))
	}
	var (
		inFlight   = map[int]bool{} // published, not yet delivered everywhere
		givenUp    int
		u          usage
		bytes0     uint64
		sent0, dr0 uint64
		deadline   = time.Now().Add(bcastRowLimit)
	)
	// wait takes one completion; when none comes for bcastStall, every
	// message in flight is given up (its coverage counts what it
	// reached) and the row goes on.
	wait := func() {
		t := time.NewTimer(bcastStall)
		defer t.Stop()
		for {
			select {
			case seq := <-d.done:
				if inFlight[seq] {
					delete(inFlight, seq)
					return
				} // a message given up, complete late
			case <-t.C:
				givenUp += len(inFlight)
				clear(inFlight)
				return
			}
		}
	}
	published := total
	for seq := 0; seq < total; seq++ {
		if seq == bcastWarm {
			for len(inFlight) > 0 {
				wait()
			}
			u = readUsage()
			bytes0, _ = tcpBytesSent()
			sent0, dr0 = net.counters()
		}
		if seq > bcastWarm && time.Now().After(deadline) {
			published = seq
			break
		}
		for len(inFlight) >= inflight {
			wait()
		}
		// A new slice per message: pubsub keeps the one it is given.
		body := append([]byte(nil), msg...)
		binary.BigEndian.PutUint64(body, uint64(seq))
		pub[seq] = int64(time.Since(d.base))
		if err := net.publish(int(d.origin[seq]), body); err != nil {
			return fmt.Errorf("publish %d: %w", seq, err)
		}
		inFlight[seq] = true
	}
	for len(inFlight) > 0 {
		wait()
	}
	m = published - bcastWarm
	elapsed, cpu, _ := u.since()
	time.Sleep(250 * time.Millisecond) // copies still on the wire land
	bytes1, socks := tcpBytesSent()
	sent1, dr1 := net.counters()

	lat := newHist()
	var delivered int64
	for seq := bcastWarm; seq < published; seq++ {
		c := d.count[seq].Load()
		delivered += int64(c)
		if int(c) == n-1 {
			lat.record(time.Duration(d.last[seq].Load() - pub[seq]))
		}
	}
	r.Messages = int64(m)
	r.Ops, r.Seconds = int64(m), elapsed.Seconds()
	r.OpsPerSec = float64(m) / elapsed.Seconds()
	r.Coverage = float64(delivered) / float64(m*(n-1))
	r.P50us, r.P99us = lat.us(0.50), lat.us(0.99)
	r.CPUusPerMsg = float64(cpu) / 1e3 / float64(m)
	if delivered > 0 {
		dv := float64(delivered)
		r.HandlerDups = float64(d.handDup.Load()) / dv
		r.DupsPerDelivery = float64(dr1-dr0) / dv
		r.CopiesPerDelivery = float64(sent1-sent0) / dv
		r.BytesPerDelivery = float64(bytes1-bytes0) / dv
	}
	r.addNote(fmt.Sprintf("%d edges, %d TCP sockets counted", len(edges), socks))
	var errs []error
	if en, ok := net.(interface{ endNote() string }); ok {
		r.addNote(en.endNote())
	}
	if givenUp > 0 {
		r.addNote(fmt.Sprintf("%d messages given up (none completed for %v)", givenUp, bcastStall))
	}
	if published < total {
		r.addNote(fmt.Sprintf("row time limit %v: %d of %d messages published", bcastRowLimit, m, total-bcastWarm))
	}
	if h := d.handDup.Load(); h > 0 {
		errs = append(errs, fmt.Errorf("%d duplicate deliveries to applications", h))
	}
	if b := d.bad.Load(); b > 0 {
		errs = append(errs, fmt.Errorf("%d deliveries with a bad body", b))
	}
	return errors.Join(errs...)
}

// ---- antnet ----------------------------------------------------------------

type antnetBcast struct{ nodes []*engine.Node }

func startAntnetBcast(n int, edges [][2]int, d *deliveries) (*antnetBcast, error) {
	b := &antnetBcast{}
	for i := range n {
		h := proto.HandlerFunc(func(ctx proto.Context, msg []byte) ([]byte, error) {
			if ctx.Kind() == codec.KindGossip {
				d.deliver(i, msg)
			}
			return nil, nil
		})
		nd, err := startNode(fmt.Sprintf("b%04d", i), h, false, 1)
		if err != nil {
			b.close()
			return nil, fmt.Errorf("node %d: %w", i, err)
		}
		b.nodes = append(b.nodes, nd)
	}
	err := linkEdges(edges, func(e [2]int) error {
		to := b.nodes[e[1]]
		return b.nodes[e[0]].AddRoute(to.ID().Name, to.Addr())
	})
	if err == nil {
		degs := graph.Degrees(n, edges)
		if !waitFor(30*time.Second, func() bool {
			for i, nd := range b.nodes {
				if nd.Stats().PersistentLinks < int64(degs[i]) {
					return false
				}
			}
			return true
		}) {
			err = errors.New("links not all up in 30s")
		}
	}
	if err != nil {
		b.close()
		return nil, err
	}
	return b, nil
}

func (b *antnetBcast) publish(origin int, msg []byte) error {
	_, err := b.nodes[origin].Broadcast(msg)
	return err
}

func (b *antnetBcast) counters() (sent, dropped uint64) {
	for _, nd := range b.nodes {
		st := nd.Stats()
		sent += st.GossipForwarded
		dropped += st.GossipDuplicates
	}
	return sent, dropped
}

func (b *antnetBcast) setupNote() string { return "" }

// endNote sums the broadcast trees' repairs over the row.
func (b *antnetBcast) endNote() string {
	var s broadcast.Stats
	for _, nd := range b.nodes {
		s.Add(nd.BroadcastStats())
	}
	return fmt.Sprintf("trees: %d prunes, %d grafts, %d ttl upgrades in all; %d eager and %d lazy link ends at the end; "+
		"%d payloads (%d B, %d answering grafts), %d B of control frames (%d ihaves announcing %d ids), %d duplicates after a stale first copy, %d prunes grafted back, %d grafts retried; warm-up included",
		s.PrunesSent, s.GraftsSent, s.Upgrades, s.EagerLinks, s.LazyLinks, s.PayloadsSent, s.PayloadBytes, s.PayloadsGrafted,
		s.ControlBytes, s.IHavesSent, s.IDsAnnounced, s.StaleFirsts, s.Regrafts, s.GraftRetries)
}

func (b *antnetBcast) close() error { return closeAll(b.nodes) }

// linkEdges calls link for every edge, 16 at a time, up to 3 times each,
// and returns the first failure.
func linkEdges(edges [][2]int, link func(e [2]int) error) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		ferr error
		sem  = make(chan struct{}, 16)
	)
	for _, e := range edges {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			// Up to 3 attempts: on a loaded 2-core machine a handshake
			// may miss its deadline (either stack).
			err := link(e)
			for try := 1; try < 3 && err != nil; try++ {
				err = link(e)
			}
			if err != nil {
				mu.Lock()
				if ferr == nil {
					ferr = fmt.Errorf("link %d-%d: %w", e[0], e[1], err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return ferr
}
