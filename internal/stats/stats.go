// Package stats holds a node's counters: atomics any goroutine adds to
// without a lock, and Stats, the snapshot a node returns (engine.Stats is
// this type).
package stats

import (
	"sync/atomic"

	"github.com/antnet-p2p/antnet/internal/histogram"
)

// Counters are a node's running totals: atomics, no lock. Each counts what
// the Stats field of its name says; Handshaking and Serving are gauges no
// Stats field shows. Adding costs one atomic add; a histogram's record, a
// clock read and two adds.
type Counters struct {
	RTT               histogram.Latency // round trips of answered requests: RequestRTT
	BroadcastDelay    histogram.Latency // origin to delivery of broadcasts: BroadcastDelay
	Conns             atomic.Int64
	FramesIn          atomic.Uint64
	BytesIn           atomic.Uint64
	Requests          atomic.Uint64
	HandlerPanics     atomic.Uint64
	ProtocolErrors    atomic.Uint64
	UnknownKinds      atomic.Uint64
	UnknownReplies    atomic.Uint64
	HandshakeTimeouts atomic.Uint64
	DuplicateLinks    atomic.Uint64
	Busy              atomic.Uint64
	GossipOriginated  atomic.Uint64
	GossipDelivered   atomic.Uint64
	GossipForwarded   atomic.Uint64
	GossipDuplicates  atomic.Uint64
	GossipExpired     atomic.Uint64
	SlowPeers         atomic.Uint64
	Refused           atomic.Uint64
	SilentPeers       atomic.Uint64
	Redials           atomic.Uint64
	Restarts          atomic.Uint64
	Handshaking       atomic.Int64 // inbound sockets holding a pending-handshake slot
	Timeouts          atomic.Uint64
	RemoteErrors      atomic.Uint64
	ShortLinks        atomic.Int64
	Tampered          atomic.Uint64
	Unadmitted        atomic.Uint64
	PersistentLinks   atomic.Int64
	CallbackPanics    atomic.Uint64
	AcceptErrors      atomic.Uint64
	LinksTrimmed      atomic.Uint64
	PexAsked          atomic.Uint64
	PexServed         atomic.Uint64
	PexLearned        atomic.Uint64
	Serving           atomic.Int64 // requests on workers or deferred, not yet answered
}

// Stats is a snapshot of a node's counters. The engine fills in what
// the counters do not hold (Peers, InFlight, FramesOut, BytesOut, Dropped,
// GossipReforwarded, LoopStalls).
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

// Snapshot returns the counters as a Stats, the fields they hold filled
// in. Cheap: atomic loads only.
func (c *Counters) Snapshot() Stats {
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
