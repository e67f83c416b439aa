package engine

import (
	"errors"
	"net"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/valyala/bytebufferpool"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/internal/connset"
	"github.com/antnet-p2p/antnet/internal/link"
	"github.com/antnet-p2p/antnet/internal/pending"
	"github.com/antnet-p2p/antnet/proto"
)

// peerConn is the engine's state for one socket, accepted or dialed. Its
// send path, request futures and lifecycle word are the embedded link.Out
// (internal/link); fields marked "loop" are touched only on the
// connection's event loop.
type peerConn struct {
	link.Out

	n     *Node
	raddr *net.TCPAddr // the socket's remote address (gnet's own, shared), set in OnOpen; nil on links the acceptor serves whole

	ls *loopState // set in OnOpen: the state of the conn's event loop

	peer  *proto.PeerID // loop (setPeer; never written through); published to other goroutines by ready / the route table
	entry *routeEntry   // persistent links in the route table

	deadline atomic.Int64 // unix nanos: handshake or drain deadline, 0 if none
	dial     *dialWait    // dialer: the handshake's outcome; nil on accepted links

	lastRecv atomic.Int64 // node clock when bytes last arrived
	lastPing atomic.Int64 // node clock when a keepalive ping last went out

	peerNonce uint64 // the peer's hello nonce: new after a restart

	// Per-link figures for PeerStates (see peerstate.go), with the Out's
	// frames and bytes out and requests in flight: the loop adds frames
	// and bytes in once per batch; senders add to the Out's per frame.
	readyAt  atomic.Int64  // unix nanos when the handshake ended
	bytesIn  atomic.Uint64 // bytes of frames decoded on the link
	framesIn atomic.Uint64 // frames decoded on the link

	dialOnly bool         // inbound peer that gave no listen address; set before the link is published
	trees    bool         // both ends run broadcast trees on this link (FlagTrees); set before it is attached
	paused   bool         // loop: serving stopped at the high-water mark with input left
	paced    bool         // loop: in the node's pacer
	rtt      atomic.Int32 // microseconds, rounded up: the last keepalive ping's round trip
	pacedOut int32        // loop: gnet's outbound bytes when the pacer last looked (saturated)

	connset.Slot // pc's place in the node's conns; under that set's lock
}

// unknownPeer is the peer of a link whose hello has not arrived. Shared:
// never written through pc.peer.
var unknownPeer proto.PeerID

// setPeer makes id pc's peer. A link whose peer is its route's ID, as
// written, shares the route's copy (e) and allocates nothing: that saves
// 48 bytes a link; other links get a copy of their own. pc.peer is never
// written through (it may be a route's ID): setPeer replaces it. Loop,
// before the link is published.
func (pc *peerConn) setPeer(id proto.PeerID, e *routeEntry) {
	if e != nil && id == e.ID {
		pc.peer = &e.ID
		return
	}
	p := new(proto.PeerID)
	*p = id
	pc.peer = p
}

// setDialErr records err as a dialer's handshake outcome and returns it.
// The first error wins, and none is recorded once the handshake is over
// (waiters read the outcome when ready closes); accepted links keep none.
// Loop.
func (pc *peerConn) setDialErr(err error) error {
	if pc.dial != nil && pc.dial.err == nil && pc.State.Load() == link.Handshake {
		pc.dial.err = err
	}
	return err
}

// dialWait is a dialed link's handshake outcome, for the goroutines that
// wait on it.
type dialWait struct {
	ready chan struct{} // closed when the handshake ends
	err   error         // the outcome, read after ready
}

func newPeerConn(n *Node, outbound bool) *peerConn {
	pc := &peerConn{n: n, peer: &unknownPeer}
	pc.Init(outbound, n.cfg.Identity != nil)
	if outbound {
		pc.dial = &dialWait{ready: make(chan struct{})}
	}
	return pc
}

// Key implements route.Link: the peer's static key on a secure link.
func (pc *peerConn) Key() string { return pc.peer.Key }

// Nonce implements route.Link: the peer's hello nonce.
func (pc *peerConn) Nonce() uint64 { return pc.peerNonce }

// send queues one frame from any goroutine (link.Out's Send): with f
// non-nil a request whose answer completes f, its id assigned.
func (pc *peerConn) send(kind codec.Kind, flags, ttl uint8, id uint64, payload []byte, f *pending.Future) (uint64, error) {
	id, err := pc.Send(&pc.n.linkEnv, pc.peer, kind, flags, ttl, id, payload, f)
	return id, pc.refusing(err)
}

// write queues one already-encoded frame. Any goroutine.
func (pc *peerConn) write(frame []byte) error {
	return pc.refusing(pc.Write(&pc.n.linkEnv, pc.peer, frame))
}

// writeOnLoop is write from the link's own event loop: the frame is queued
// and the link put on the loop's dirty list instead of woken (see dirty).
// Loop (pc's own).
func (pc *peerConn) writeOnLoop(frame []byte) error {
	if pc.NoisePending() {
		return pc.write(frame) // nothing to seal with yet: the loop's OnTraffic sends it
	}
	list, err := pc.WriteOnLoop(&pc.n.linkEnv, pc.peer, frame)
	if list {
		pc.dirty()
	}
	return pc.refusing(err)
}

// flushOnLoop writes what writeOnLoop queued on pc, sealed on a secure link,
// with gnet's Write. Loop (pc's own), from flushDirty.
func (pc *peerConn) flushOnLoop() {
	n := pc.n
	var sealed *bytebufferpool.ByteBuffer
	if pc.Session() != nil {
		sealed = n.framePool.Get()
	}
	if err := pc.FlushOnLoop(&n.linkEnv, sealed); err != nil {
		n.log.Error("seal failed", "remote", pc.remote(), "err", err)
	}
	if sealed != nil {
		n.framePool.Put(sealed)
	}
}

// refusing returns err, after disconnecting the peer if err is a refusal
// by the high-water mark under WithDropSlowPeers: its requests in flight
// fail with err. The error a link already failed with (a send after the
// refusal gets it back) changes nothing.
func (pc *peerConn) refusing(err error) error {
	if err != nil && pc.n.cfg.DropSlow && errors.Is(err, ErrSlowPeer) && pc.Err() != err {
		pc.markSlow()
		pc.fail(err)
		pc.Close()
	}
	return err
}

// markSlow counts pc in Stats.SlowPeers, once per link.
func (pc *peerConn) markSlow() {
	n := pc.n
	pc.setDown(ReasonSlowPeer)
	if pc.State.Mark(link.FlagSlowCounted) {
		n.stats.SlowPeers.Add(1)
		n.log.Warn("closing slow peer", "peer", pc.peer.String())
	}
}

// fail closes the conn's request side with err and fails every pending
// request with it. Safe to call more than once.
func (pc *peerConn) fail(err error) { pc.Fail(&pc.n.linkEnv, err) }

// usable reports whether new requests may go on the link.
func (pc *peerConn) usable() error {
	switch pc.State.Load() {
	case link.Ready:
		return nil
	case link.Draining:
		return ErrDraining
	case link.Closed:
		return ErrConnLost
	}
	return ErrNotConnected
}

// setConn publishes the gnet conn and its loop. Loop, in OnOpen.
func (pc *peerConn) setConn(c gnet.Conn) {
	pc.ls = pc.n.own.loopOf(c)
	pc.SetConn(c)
}

// abandon is the dialer giving up: pending requests fail with err and the
// socket closes now or as soon as it opens.
func (pc *peerConn) abandon(err error) {
	pc.State.Mark(link.FlagAbandoned)
	pc.fail(err)
	pc.Close()
}

func (pc *peerConn) setDeadline(d time.Duration) {
	pc.deadline.Store(time.Now().Add(d).UnixNano())
}
