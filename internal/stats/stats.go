// Package stats holds a node's counters: atomics any goroutine adds to
// without a lock. engine.Node.Stats reads them into engine.Stats.
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
