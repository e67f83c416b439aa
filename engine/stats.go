package engine

import (
	"encoding/json"
	"expvar"
	"sync/atomic"

	"github.com/antnet-p2p/antnet/internal/histogram"
	"github.com/antnet-p2p/antnet/internal/stats"
)

// countReady tracks links past their handshake, by mode.
func (pc *peerConn) countReady(d int64) {
	n := pc.n
	if pc.Short() {
		n.stats.ShortLinks.Add(d)
	} else {
		n.stats.PersistentLinks.Add(d)
	}
}

// Stats is a snapshot of a node's counters, one field a counter: gauges
// (Peers, Conns, the links, InFlight) and running totals since New. The
// fields are documented where the type is defined, internal/stats.
type Stats = stats.Stats

// Stats returns the node's counters. Cheap: atomic loads only.
func (n *Node) Stats() Stats {
	st := n.stats.Snapshot()
	st.InFlight = n.linkEnv.InFlight.Load()
	st.FramesOut = n.linkEnv.FramesOut.Load()
	st.BytesOut = n.linkEnv.BytesOut.Load()
	st.Dropped = n.linkEnv.Dropped.Load()
	st.GossipReforwarded = n.tree.Upgrades()
	st.LoopStalls = n.stalls.Count()
	if n.routes.table != nil {
		st.Peers = n.routes.table.Len()
	}
	return st
}

// PublishExpvar publishes the node's Stats under name in package expvar
// (/debug/vars). Each read costs one Stats call. A name this package
// published before (a restarted node) moves to this node; a name taken by
// something else panics, as expvar.Publish does.
func (n *Node) PublishExpvar(name string) {
	if v, ok := expvar.Get(name).(*statsVar); ok {
		v.node.Store(n)
		return
	}
	v := &statsVar{}
	v.node.Store(n)
	expvar.Publish(name, v)
}

// statsVar is an expvar.Var showing a node's Stats as JSON.
type statsVar struct{ node atomic.Pointer[Node] }

func (v *statsVar) String() string {
	b, _ := json.Marshal(v.node.Load().Stats())
	return string(b)
}

// Histogram is a snapshot of a latency histogram with fixed bucket bounds:
// 16µs·2^i, about 16.8s at the last, then the overflow.
type Histogram = histogram.Snapshot

// RequestRTT returns the histogram of request round trips, Dispatch (or
// DispatchAll) to reply, for requests answered with a reply. Recording
// costs one time.Now and two atomic adds per reply; a snapshot a few
// hundred bytes and no lock.
func (n *Node) RequestRTT() Histogram { return n.stats.RTT.Snapshot() }

// BroadcastDelay returns the histogram of broadcast delivery delays here:
// the origin's Broadcast call (its clock, from the stamp every antnet
// origin adds) to the delivery (this node's clock). Summed over a network,
// its quantiles are coverage times; across hosts it is as good as their
// clock sync (a negative delay counts as zero). Recording costs one
// time.Since and two atomic adds per broadcast delivered.
func (n *Node) BroadcastDelay() Histogram { return n.stats.BroadcastDelay.Snapshot() }

// linkBatch counts one OnTraffic batch for pc's figures and the node's,
// added with a few atomic adds at the end of the batch rather than one per
// frame (the node's counters are shared by every loop).
type linkBatch struct{ frames, bytes, answers uint64 }

// add adds the batch to pc and its node. Loop.
func (b *linkBatch) add(pc *peerConn) {
	if b.frames != 0 {
		pc.framesIn.Add(b.frames)
		pc.bytesIn.Add(b.bytes)
		pc.n.stats.FramesIn.Add(b.frames)
		pc.n.stats.BytesIn.Add(b.bytes)
	}
	if b.answers != 0 {
		pc.CountSent(b.answers, 0)
	}
}
