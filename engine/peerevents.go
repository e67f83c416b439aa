package engine

import "github.com/antnet-p2p/antnet/proto"

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

// deliverPeerEvents returns f, the WithPeerEvents callback, run through
// runCallback; nil (events off) when f is nil. Events are queued under
// linkMu and flushed, in order, once it is released (internal/inorder).
func (n *Node) deliverPeerEvents(f func(PeerEvent)) func(PeerEvent) {
	if f == nil {
		return nil
	}
	return func(ev PeerEvent) { n.runCallback("peer events", ranEvents, func() { f(ev) }) }
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
func (pc *peerConn) setDown(r Reason) { pc.State.SetDown(byte(r)) }

// downRecorded is the Reason recorded on pc's link, ReasonNone if none.
func (pc *peerConn) downRecorded() Reason { return Reason(pc.State.Down()) }

// downReason is why pc's peer goes down now: the node closing, else the
// reason recorded on the link, else a lost connection.
func (pc *peerConn) downReason() Reason {
	n := pc.n
	if n.life.state.Load() != nodeRunning {
		return ReasonClosed
	}
	if r := pc.downRecorded(); r != ReasonNone {
		return r
	}
	return ReasonConnLost
}
