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

// WithPeerEvents calls f when a peer gains its first live link (Up) and when
// it loses its last one (not Up); swapping a duplicate link raises no event.
// A peer that restarted (its new link carries another hello nonce) raises
// Down then Up, back to back, though its route never goes without a link:
// whatever state you keep about the peer's session is gone. A Down event's
// Reason says why: ReasonGoaway (the peer left or retired the link),
// ReasonConnLost (the socket closed without a goaway), ReasonSilent (the
// dead-peer timeout), ReasonRestarted, ReasonDeleted (Delete),
// ReasonClosed (this node is closing), ReasonProtocol (the peer sent a bad
// frame) or ReasonSlowPeer (the peer stopped reading and WithHighWater drops slow peers). Events are
// delivered one at a time in the order of the route changes that raise them,
// so events for one peer arrive in order. f runs on an event loop, or on the
// goroutine that called Delete or Close: it must return quickly (hand the
// event to a channel or a goroutine). Blocking calls made inside f
// (Dispatch, DispatchAll, a persistent AddRoute, Close) return
// ErrOnEventLoop wherever f runs; Send, Broadcast and Delete are fine. A
// panic in f is recovered, logged and counted in Stats.CallbackPanics; the
// node goes on.
func WithPeerEvents(f func(PeerEvent)) Option { return func(c *config) { c.events = f } }

func (n *Node) emit(ev PeerEvent) {
	if f := n.cfg.events; f != nil {
		n.runCallback("peer events", ranEvents, func() { f(ev) })
	}
}
