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

// Stats is a snapshot of a node's counters: gauges (Peers, Conns, the
// links, InFlight) and running totals since New.
type Stats struct {
	Peers             int    // entries in the route table
	Conns             int64  // open sockets, any state
	PersistentLinks   int64  // persistent links past their handshake
	ShortLinks        int64  // short-mode connections past their handshake
	InFlight          int64  // requests sent and not yet answered
	FramesIn          uint64 // frames decoded
	FramesOut         uint64 // frames queued or written
	BytesIn           uint64 // bytes of decoded frames
	BytesOut          uint64 // bytes written by the event loops
	Requests          uint64 // requests this node sent
	Timeouts          uint64 // requests given up: timeout or the caller's context
	RemoteErrors      uint64 // error-responses received
	HandlerPanics     uint64 // handler panics recovered
	CallbackPanics    uint64 // WithPeerEvents and WithAdmit panics recovered
	ProtocolErrors    uint64 // connections closed for bad input
	UnknownKinds      uint64 // frames of a kind this node does not serve
	UnknownReplies    uint64 // answers with no waiting request (late or bogus)
	HandshakeTimeouts uint64 // sockets closed for not finishing hello
	DuplicateLinks    uint64 // links retired by the duplicate-link rule
	Busy              uint64 // requests refused because the worker queue was full

	GossipOriginated uint64 // broadcasts started here
	GossipDelivered  uint64 // broadcasts handed to the handler (once per id)
	GossipForwarded  uint64 // gossip frames (payload copies) sent, origin's included
	GossipDuplicates uint64 // gossip frames dropped: id already seen
	GossipExpired    uint64 // broadcasts delivered with ttl 0, not forwarded
	// GossipReforwarded counts broadcasts relayed again because a later
	// copy or announcement carried more ttl (their copies are in
	// GossipForwarded). BroadcastStats has the tree's own counters.
	GossipReforwarded uint64

	Dropped     uint64 // frames refused by the outbound high-water mark
	SlowPeers   uint64 // links closed for not reading (ErrSlowPeer), once per link
	Refused     uint64 // accepted sockets closed by a connection limit
	SilentPeers uint64 // links closed by keepalive
	Redials     uint64 // reconnect attempts
	Restarts    uint64 // links to an old incarnation of a restarted peer, closed
	Tampered    uint64 // secure links closed for a frame that failed authentication
	Unadmitted  uint64 // secure peers refused by the allow-list or admission callback

	AcceptErrors uint64 // failed accepts (out of descriptors...): each costs a back-off, not the node

	LinksTrimmed uint64 // links retired above the high mark (WithMaxLinks)
	PexAsked     uint64 // pex-requests sent (WithMinLinks)
	PexServed    uint64 // pex-requests answered with addresses
	PexLearned   uint64 // addresses in pex-responses the book took (new or known)

	// LoopStalls counts event loop callbacks that ran past the stall
	// threshold (WithStallThreshold): a handler that blocked its loop.
	LoopStalls uint64
}

// Stats returns the node's counters. Cheap: atomic loads only.
func (n *Node) Stats() Stats {
	st := snapshot(&n.stats)
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

// snapshot returns the counters as a Stats, the fields they hold filled
// in; Stats adds those the links, the tree and the table keep.
func snapshot(c *stats.Counters) Stats {
	return Stats{
		Conns:             c.Conns.Load(),
		FramesIn:          c.FramesIn.Load(),
		BytesIn:           c.BytesIn.Load(),
		Requests:          c.Requests.Load(),
		HandlerPanics:     c.HandlerPanics.Load(),
		ProtocolErrors:    c.ProtocolErrors.Load(),
		UnknownKinds:      c.UnknownKinds.Load(),
		UnknownReplies:    c.UnknownReplies.Load(),
		HandshakeTimeouts: c.HandshakeTimeouts.Load(),
		DuplicateLinks:    c.DuplicateLinks.Load(),
		Busy:              c.Busy.Load(),
		GossipOriginated:  c.GossipOriginated.Load(),
		GossipDelivered:   c.GossipDelivered.Load(),
		GossipForwarded:   c.GossipForwarded.Load(),
		GossipDuplicates:  c.GossipDuplicates.Load(),
		GossipExpired:     c.GossipExpired.Load(),
		SlowPeers:         c.SlowPeers.Load(),
		Refused:           c.Refused.Load(),
		SilentPeers:       c.SilentPeers.Load(),
		Redials:           c.Redials.Load(),
		Restarts:          c.Restarts.Load(),
		Timeouts:          c.Timeouts.Load(),
		RemoteErrors:      c.RemoteErrors.Load(),
		ShortLinks:        c.ShortLinks.Load(),
		Tampered:          c.Tampered.Load(),
		Unadmitted:        c.Unadmitted.Load(),
		PersistentLinks:   c.PersistentLinks.Load(),
		CallbackPanics:    c.CallbackPanics.Load(),
		AcceptErrors:      c.AcceptErrors.Load(),
		LinksTrimmed:      c.LinksTrimmed.Load(),
		PexAsked:          c.PexAsked.Load(),
		PexServed:         c.PexServed.Load(),
		PexLearned:        c.PexLearned.Load(),
	}
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
