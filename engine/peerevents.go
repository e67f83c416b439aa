package engine

import (
	"sync"

	"github.com/antnet-p2p/antnet/proto"
)

// PeerEvent says that a peer's persistent link came up or went down.
type PeerEvent struct {
	// Peer is the peer's route ID, with the link's key on a secure node.
	Peer proto.PeerID
	Up   bool // false: the peer has no link any more
	// Outbound reports whether this node dialed the link (Up events).
	Outbound bool
	// Reason says why the peer went down (Down events; ReasonNone for Up).
	Reason Reason
}

// newPeerEventQueue returns the queue that runs f, the WithPeerEvents
// callback, through runCallback; a queue that drops events when f is nil.
func (n *Node) newPeerEventQueue(f func(PeerEvent)) peerEventQueue {
	if f == nil {
		return peerEventQueue{}
	}
	return peerEventQueue{deliver: func(ev PeerEvent) {
		n.runCallback("peer events", ranEvents, func() { f(ev) })
	}}
}

// peerEventQueue hands peer events to the WithPeerEvents callback in the
// order the route changes raised them, one goroutine at a time: events are
// queued under linkMu and delivered after it is released, by whichever
// goroutine gets there first (the others' events go with its run).
type peerEventQueue struct {
	deliver func(PeerEvent) // the callback, wrapped by runCallback; nil: events are off

	mu         sync.Mutex
	queue      []PeerEvent // raised, not yet delivered, in order
	delivering bool        // a goroutine is delivering queue
}

// add queues ev. Under linkMu.
func (q *peerEventQueue) add(ev PeerEvent) {
	if q.deliver == nil {
		return
	}
	q.mu.Lock()
	q.queue = append(q.queue, ev)
	q.mu.Unlock()
}

// flush delivers the queued events in order, unless another goroutine is
// doing so already (it delivers these too). Call it after releasing linkMu.
func (q *peerEventQueue) flush() {
	if q.deliver == nil {
		return
	}
	q.mu.Lock()
	if q.delivering {
		q.mu.Unlock()
		return
	}
	q.delivering = true
	for len(q.queue) > 0 {
		ev := q.queue[0]
		q.queue[0] = PeerEvent{}
		q.queue = q.queue[1:]
		q.mu.Unlock()
		q.deliver(ev)
		q.mu.Lock()
	}
	q.queue = q.queue[:0]
	q.delivering = false
	q.mu.Unlock()
}

// Reason says why a peer went down (PeerEvent.Reason).
type Reason uint8

// Reasons a peer goes down.
const (
	// ReasonNone: an Up event.
	ReasonNone Reason = iota
	// ReasonConnLost: the socket closed or failed without a goaway.
	ReasonConnLost
	// ReasonGoaway: the peer said goaway (it is shutting down, or retired
	// the link).
	ReasonGoaway
	// ReasonSilent: nothing arrived for the dead-peer timeout
	// (WithDeadPeerTimeout).
	ReasonSilent
	// ReasonRestarted: the peer came back as a new run (another hello
	// nonce); an Up event for the new run follows at once.
	ReasonRestarted
	// ReasonDeleted: Delete removed the route; the link drains.
	ReasonDeleted
	// ReasonClosed: this node is closing.
	ReasonClosed
	// ReasonProtocol: the peer broke the protocol (a bad or forged frame).
	ReasonProtocol
	// ReasonSlowPeer: the peer stopped reading and the node drops slow
	// peers (ErrSlowPeer).
	ReasonSlowPeer
	// ReasonTooManyLinks: this node or the peer had more links than its
	// high mark (WithMaxLinks) and retired this one.
	ReasonTooManyLinks
)

// String returns the reason in a few words: "connection lost", "goaway",
// "silent", "restarted", "route deleted", "local close",
// "protocol violation", "slow peer", "too many links", or "" for
// ReasonNone.
func (r Reason) String() string {
	switch r {
	case ReasonConnLost:
		return "connection lost"
	case ReasonGoaway:
		return "goaway"
	case ReasonSilent:
		return "silent"
	case ReasonRestarted:
		return "restarted"
	case ReasonDeleted:
		return "route deleted"
	case ReasonClosed:
		return "local close"
	case ReasonProtocol:
		return "protocol violation"
	case ReasonSlowPeer:
		return "slow peer"
	case ReasonTooManyLinks:
		return "too many links"
	}
	return ""
}

// setDown records why pc is going down, unless a reason is already set.
func (pc *peerConn) setDown(r Reason) { pc.downWhy.CompareAndSwap(0, uint32(r)) }

// downReason is why pc's peer goes down now: the node closing, else the
// reason recorded on the link, else a lost connection.
func (pc *peerConn) downReason() Reason {
	n := pc.n
	if n.life.state.Load() != nodeRunning {
		return ReasonClosed
	}
	if r := Reason(pc.downWhy.Load()); r != ReasonNone {
		return r
	}
	return ReasonConnLost
}
