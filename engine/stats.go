package engine

import (
	"encoding/json"
	"expvar"
	"sync/atomic"

	"github.com/antnet-p2p/antnet/internal/histogram"
)

// counters are the node's running totals: atomics, no lock.
type counters struct {
	rtt            histogram.Latency // round trips of answered requests: RequestRTT
	broadcastDelay histogram.Latency // origin to delivery of broadcasts: BroadcastDelay

	conns             atomic.Int64
	framesIn          atomic.Uint64
	bytesIn           atomic.Uint64
	requests          atomic.Uint64
	handlerPanics     atomic.Uint64
	protocolErrors    atomic.Uint64
	unknownKinds      atomic.Uint64
	unknownReplies    atomic.Uint64
	handshakeTimeouts atomic.Uint64
	duplicateLinks    atomic.Uint64
	busy              atomic.Uint64
	gossipOriginated  atomic.Uint64
	gossipDelivered   atomic.Uint64
	gossipForwarded   atomic.Uint64
	gossipDuplicates  atomic.Uint64
	gossipExpired     atomic.Uint64
	slowPeers         atomic.Uint64
	refused           atomic.Uint64
	silentPeers       atomic.Uint64
	redials           atomic.Uint64
	restarts          atomic.Uint64
	handshaking       atomic.Int64
	timeouts          atomic.Uint64
	remoteErrors      atomic.Uint64
	shortLinks        atomic.Int64
	tampered          atomic.Uint64
	unadmitted        atomic.Uint64
	persistentLinks   atomic.Int64
	callbackPanics    atomic.Uint64
	acceptErrors      atomic.Uint64
	linksTrimmed      atomic.Uint64
	pexAsked          atomic.Uint64
	pexServed         atomic.Uint64
	pexLearned        atomic.Uint64
	serving           atomic.Int64 // requests on workers or deferred, not yet answered
}

// countReady tracks links past their handshake, by mode.
func (pc *peerConn) countReady(d int64) {
	n := pc.n
	if pc.Short() {
		n.stats.shortLinks.Add(d)
	} else {
		n.stats.persistentLinks.Add(d)
	}
}

// Stats is a snapshot of a node's counters.
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
	s := &n.stats
	st := Stats{
		Conns:             s.conns.Load(),
		PersistentLinks:   s.persistentLinks.Load(),
		ShortLinks:        s.shortLinks.Load(),
		InFlight:          n.linkEnv.InFlight.Load(),
		FramesOut:         n.linkEnv.FramesOut.Load(),
		Timeouts:          s.timeouts.Load(),
		RemoteErrors:      s.remoteErrors.Load(),
		FramesIn:          s.framesIn.Load(),
		BytesIn:           s.bytesIn.Load(),
		BytesOut:          n.linkEnv.BytesOut.Load(),
		Requests:          s.requests.Load(),
		HandlerPanics:     s.handlerPanics.Load(),
		CallbackPanics:    s.callbackPanics.Load(),
		ProtocolErrors:    s.protocolErrors.Load(),
		UnknownKinds:      s.unknownKinds.Load(),
		UnknownReplies:    s.unknownReplies.Load(),
		HandshakeTimeouts: s.handshakeTimeouts.Load(),
		DuplicateLinks:    s.duplicateLinks.Load(),
		Busy:              s.busy.Load(),
		GossipOriginated:  s.gossipOriginated.Load(),
		GossipDelivered:   s.gossipDelivered.Load(),
		GossipForwarded:   s.gossipForwarded.Load(),
		GossipDuplicates:  s.gossipDuplicates.Load(),
		GossipExpired:     s.gossipExpired.Load(),
		GossipReforwarded: n.tree.Upgrades(),
		Dropped:           n.linkEnv.Dropped.Load(),
		SlowPeers:         s.slowPeers.Load(),
		Refused:           s.refused.Load(),
		SilentPeers:       s.silentPeers.Load(),
		Redials:           s.redials.Load(),
		Restarts:          s.restarts.Load(),
		Tampered:          s.tampered.Load(),
		Unadmitted:        s.unadmitted.Load(),
		AcceptErrors:      s.acceptErrors.Load(),
		LinksTrimmed:      s.linksTrimmed.Load(),
		PexAsked:          s.pexAsked.Load(),
		PexServed:         s.pexServed.Load(),
		PexLearned:        s.pexLearned.Load(),
		LoopStalls:        n.stalls.Count(),
	}
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
func (n *Node) RequestRTT() Histogram { return n.stats.rtt.Snapshot() }

// BroadcastDelay returns the histogram of broadcast delivery delays here:
// the origin's Broadcast call (its clock, from the stamp every antnet
// origin adds) to the delivery (this node's clock). Summed over a network,
// its quantiles are coverage times; across hosts it is as good as their
// clock sync (a negative delay counts as zero). Recording costs one
// time.Since and two atomic adds per broadcast delivered.
func (n *Node) BroadcastDelay() Histogram { return n.stats.broadcastDelay.Snapshot() }

// linkBatch counts one OnTraffic batch for pc's figures and the node's,
// added with a few atomic adds at the end of the batch rather than one per
// frame (the node's counters are shared by every loop).
type linkBatch struct{ frames, bytes, answers uint64 }

// add adds the batch to pc and its node. Loop.
func (b *linkBatch) add(pc *peerConn) {
	if b.frames != 0 {
		pc.framesIn.Add(b.frames)
		pc.bytesIn.Add(b.bytes)
		pc.n.stats.framesIn.Add(b.frames)
		pc.n.stats.bytesIn.Add(b.bytes)
	}
	if b.answers != 0 {
		pc.CountSent(b.answers, 0)
	}
}
