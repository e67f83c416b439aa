package engine

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/valyala/bytebufferpool"
	"golang.org/x/sys/unix"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/internal/connset"
	"github.com/antnet-p2p/antnet/internal/pending"
	"github.com/antnet-p2p/antnet/proto"
	"github.com/antnet-p2p/antnet/secure"
)

// peerConn is the engine's state for one socket, accepted or dialed. Fields
// marked "loop" are touched only on the connection's event loop.
type peerConn struct {
	n        *Node
	outbound bool
	short    bool
	dialOnly bool // inbound peer that gave no listen address; set before the link is published
	trees    bool // both ends run broadcast trees on this link (FlagTrees); set before it is attached
	// under mu (here, where the bools above leave room):
	woken    bool // a wake (or the loop's dirty list) will write the queue
	loopBusy bool // the loop is serving the link or writing to it: others queue
	backlog  bool // gnet's outbound buffer held bytes after the loop's last write: others queue
	sealing  bool // hello and hello-ack are out on a secure link: senders seal with sec.sess as they queue

	c     gnet.Conn    // set in OnOpen, before the conn is published
	raddr *net.TCPAddr // the socket's remote address (gnet's own, shared), set with c; nil on links the acceptor serves whole

	ls *loopState // set with c: the state of the conn's event loop (c.Fd() is its socket, for flushLocked)

	peer  *proto.PeerID // loop (setPeer; never written through); published to other goroutines by ready / the route table
	entry *routeEntry   // persistent links in the route table

	deadline atomic.Int64 // unix nanos: handshake or drain deadline, 0 if none
	dial     *dialWait    // dialer: the handshake's outcome; nil on accepted links
	sec      *secureLink  // a secure node's links: the Noise state; nil on a plain node

	lastRecv atomic.Int64 // node clock when bytes last arrived
	lastPing atomic.Int64 // node clock when a keepalive ping last went out
	unsent   atomic.Int64 // written by the loop: bytes in gnet's outbound buffer plus the batch being written
	queued   atomic.Int64 // bytes in out, as they will be sent (sealed); changed under mu
	state    linkState    // lifecycle state, one-way marks, the goaway to send, why the link went down
	paused   bool         // loop: serving stopped at the high-water mark with input left
	answered bool         // loop: the batch being served completed a caller's request
	paced    bool         // loop: in the node's pacer
	crowd    uint8        // under mu: requests left before flushLocked writes again (see alone)

	peerNonce uint64 // the peer's hello nonce: new after a restart

	// Per-link figures for PeerStates (see peerstate.go): the loop adds to
	// the atomics once per batch, send and write once per frame.
	readyAt   atomic.Int64  // unix nanos when the handshake ended
	bytesIn   atomic.Uint64 // bytes of frames decoded on the link
	framesIn  atomic.Uint64 // frames decoded on the link
	bytesOut  atomic.Uint64 // bytes the loop wrote on the link
	framesOut atomic.Uint64 // frames queued by send and write, and answers the loop wrote without the queue; a request's id is its frame's count
	inflight  atomic.Int32  // requests sent and not yet answered
	rtt       atomic.Int32  // microseconds, rounded up: the last keepalive ping's round trip
	pacedOut  int32         // loop: gnet's outbound bytes when the pacer last looked (saturated)

	connset.Slot // pc's place in the node's conns; under that set's lock

	mu       sync.Mutex
	pending  map[uint64]*pending.Future // nil until a request goes out, and again when the sweep finds it empty
	out      *bytebufferpool.ByteBuffer // frames queued by other goroutines; sealed once sealing is set
	closeErr *error                     // non-nil once the conn is closed (OnClose sets it before gnet closes the socket)
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

// session is the link's Noise session, nil on a plain link or before the
// Noise handshake ends. Loop.
func (pc *peerConn) session() *secure.Session {
	if pc.sec == nil {
		return nil
	}
	return pc.sec.sess
}

// setDialErr records err as a dialer's handshake outcome and returns it.
// The first error wins, and none is recorded once the handshake is over
// (waiters read the outcome when ready closes); accepted links keep none.
// Loop.
func (pc *peerConn) setDialErr(err error) error {
	if pc.dial != nil && pc.dial.err == nil && pc.state.Load() == stateHandshake {
		pc.dial.err = err
	}
	return err
}

// noisePending reports whether pc is a secure node's link whose Noise
// handshake has not ended. Loop.
func (pc *peerConn) noisePending() bool { return pc.sec != nil && pc.sec.sess == nil }

// dialWait is a dialed link's handshake outcome, for the goroutines that
// wait on it.
type dialWait struct {
	ready chan struct{} // closed when the handshake ends
	err   error         // the outcome, read after ready
}

// secureLink is a secure link's Noise state. Loop, but for sess, which
// senders use under mu once sealing is set.
type secureLink struct {
	hs   *secure.Handshake // the Noise handshake in progress
	sess *secure.Session   // seals and opens frames once the handshake is done
}

func newPeerConn(n *Node, outbound bool) *peerConn {
	pc := &peerConn{n: n, outbound: outbound, peer: &unknownPeer}
	if outbound {
		pc.dial = &dialWait{ready: make(chan struct{})}
	}
	if n.cfg.identity != nil {
		pc.sec = new(secureLink)
	}
	return pc
}

// Key implements route.Link: the peer's static key on a secure link.
func (pc *peerConn) Key() string { return pc.peer.Key }

// Outbound implements route.Link.
func (pc *peerConn) Outbound() bool { return pc.outbound }

// Nonce implements route.Link: the peer's hello nonce.
func (pc *peerConn) Nonce() uint64 { return pc.peerNonce }

// InFlight returns the requests sent on the link and not yet answered.
func (pc *peerConn) InFlight() int { return int(pc.inflight.Load()) }

// send queues one frame from any goroutine and wakes the event loop if the
// queue was empty. With f non-nil the frame is a request whose answer
// completes f; send assigns its id.
func (pc *peerConn) send(kind codec.Kind, flags, ttl uint8, id uint64, payload []byte, f *pending.Future) (uint64, error) {
	pc.mu.Lock()
	if pc.closeErr != nil {
		err := *pc.closeErr
		pc.mu.Unlock()
		return 0, err
	}
	if err := pc.n.cfg.checkSize(len(payload)); err != nil {
		pc.mu.Unlock()
		return 0, err
	}
	size := codec.HeaderSize + len(payload) + pc.n.cfg.sealOverhead()
	if err := pc.roomFor(size); err != nil {
		pc.mu.Unlock()
		pc.refused(err)
		return 0, err
	}
	if f != nil {
		if max := pc.n.cfg.maxInFlight; max > 0 && int(pc.inflight.Load()) >= max {
			pc.mu.Unlock()
			return 0, fmt.Errorf("%w: %d requests in flight to %s", ErrBusy, max, pc.peer)
		}
	}
	count := pc.framesOut.Add(1)
	if f != nil {
		id = count // unique on the link and never 0: the frame count only grows
	}
	out := pc.outBuf()
	if pc.sealing {
		// Sealed here, in the sender's goroutine, off the event loop; the
		// queue's order is the nonces' order.
		var err error
		if out.B, err = pc.sec.sess.AppendSealed(out.B, kind, flags, ttl, id, payload); err != nil {
			pc.framesOut.Add(^uint64(0)) // not queued after all
			pc.mu.Unlock()
			return 0, err
		}
	} else {
		out.B = codec.AppendHeader(out.B, kind, flags, ttl, id, len(payload))
		out.B = append(out.B, payload...)
	}
	if f != nil {
		if pc.pending == nil {
			pc.pending = make(map[uint64]*pending.Future) // made for the first request; sweep drops it while empty
		}
		pc.pending[id] = f
		pc.inflight.Add(1)
		pc.n.stats.inflight.Add(1)
	}
	pc.n.stats.framesOut.Add(1)
	pc.queued.Add(int64(size))
	if kind == codec.KindResponse || kind == codec.KindError {
		pc.markAnswered() // under mu: OnTraffic sees the flag and the queued answer together
	}
	c := pc.flushLocked(f != nil && pc.alone())
	pc.mu.Unlock()
	if c != nil {
		if err := c.Wake(nil); err != nil {
			if f != nil && !pc.cancel(id) {
				<-f.Done // fail answered it meanwhile: take the signal, the future goes back to the pool
			}
			return 0, ErrClosed
		}
	}
	return id, nil
}

// write queues one already-encoded frame. Any goroutine.
func (pc *peerConn) write(frame []byte) error {
	pc.mu.Lock()
	if err := pc.queueFrameLocked(frame); err != nil {
		return err // queueFrameLocked unlocked pc.mu
	}
	c := pc.wakeLocked()
	pc.mu.Unlock()
	if c != nil && c.Wake(nil) != nil {
		return ErrClosed
	}
	return nil
}

// queueFrameLocked appends one encoded frame to pc's queue, sealed on a
// secure link, if pc is open and has room for it. Under pc.mu; on an error
// it unlocks pc.mu (and reports a refusal by the high-water mark).
func (pc *peerConn) queueFrameLocked(frame []byte) error {
	if pc.closeErr != nil {
		err := *pc.closeErr
		pc.mu.Unlock()
		return err
	}
	size := len(frame) + pc.n.cfg.sealOverhead()
	if err := pc.roomFor(size); err != nil {
		pc.mu.Unlock()
		pc.refused(err)
		return err
	}
	out := pc.outBuf()
	if pc.sealing {
		var err error
		if out.B, err = pc.sec.sess.SealFrames(out.B, frame); err != nil {
			pc.mu.Unlock()
			return err
		}
	} else {
		out.B = append(out.B, frame...)
	}
	pc.n.stats.framesOut.Add(1)
	pc.framesOut.Add(1)
	pc.queued.Add(int64(size))
	return nil
}

// writeOnLoop is write from the link's own event loop: the frame is queued
// and the link put on the loop's dirty list instead of woken (see dirty).
// Loop (pc's own).
func (pc *peerConn) writeOnLoop(frame []byte) error {
	if pc.noisePending() {
		return pc.write(frame) // nothing to seal with yet: the loop's OnTraffic sends it
	}
	pc.mu.Lock()
	if err := pc.queueFrameLocked(frame); err != nil {
		return err // queueFrameLocked unlocked pc.mu
	}
	listed := !pc.woken && pc.c != nil // else a wake is due anyway
	if listed {
		pc.woken = true // others queue behind, as behind a wake
	}
	pc.mu.Unlock()
	if listed {
		pc.dirty()
	}
	return nil
}

// flushOnLoop writes what writeOnLoop queued on pc, sealed on a secure link,
// with gnet's Write. Loop (pc's own), from flushDirty.
func (pc *peerConn) flushOnLoop() {
	n := pc.n
	if pc.noisePending() {
		return // queued until the session exists, as in OnTraffic
	}
	pc.mu.Lock()
	if pc.closeErr != nil { // OnClose took the queue
		pc.mu.Unlock()
		return
	}
	pc.loopBusy = true
	pc.mu.Unlock()
	var b []byte
	var out, sealed *bytebufferpool.ByteBuffer
	if pc.session() != nil {
		// The queue, sealed in wire order (sealBatch takes it).
		sealed = n.framePool.Get()
		var none bytebufferpool.ByteBuffer
		b = pc.sealBatch(&none, sealed).B
	} else if out = pc.takeOut(); out != nil {
		b = out.B
	}
	release := func() {
		if out != nil {
			n.outPool.Put(out)
		}
		if sealed != nil {
			n.framePool.Put(sealed)
		}
	}
	if len(b) == 0 {
		release()
		pc.loopEnd(pc.backlog)
		return
	}
	n.stats.bytesOut.Add(uint64(len(b)))
	pc.bytesOut.Add(uint64(len(b)))
	_, _ = pc.c.Write(b)
	release()
	unsent := pc.c.OutboundBuffered()
	pc.unsent.Store(int64(unsent))
	pc.loopEnd(unsent > 0)
}

// roomFor applies the outbound high-water mark to a frame of n bytes (as
// sent): what the node holds for the peer (the queue, the batch its loop
// is writing, and what the socket has not taken) plus n must stay within
// it. The loop's count is refreshed after every write, never lower than the
// truth. A refusal wakes the loop so that a peer that resumed reading is
// noticed. Under mu.
func (pc *peerConn) roomFor(n int) error {
	hw := pc.n.cfg.highWater
	if hw <= 0 {
		return nil
	}
	held := pc.unsent.Load() + pc.queued.Load()
	if held+int64(n) <= int64(hw) {
		return nil
	}
	pc.n.stats.dropped.Add(1)
	if !pc.n.cfg.dropSlow {
		if c := pc.wakeLocked(); c != nil {
			_ = c.Wake(nil)
		}
	}
	return fmt.Errorf("%w: %d bytes held for %s, mark %d", ErrSlowPeer, held, pc.peer, hw)
}

// refused runs after roomFor refused a frame, outside mu: with WithDropSlowPeers
// the peer is disconnected and its requests in flight fail with err.
func (pc *peerConn) refused(err error) {
	if !pc.n.cfg.dropSlow {
		return
	}
	pc.markSlow()
	pc.fail(err)
	pc.close()
}

// markSlow counts pc in Stats.SlowPeers, once per link.
func (pc *peerConn) markSlow() {
	n := pc.n
	pc.setDown(ReasonSlowPeer)
	if pc.state.mark(flagSlowCounted) {
		n.stats.slowPeers.Add(1)
		n.log.Warn("closing slow peer", "peer", pc.peer.String())
	}
}

// outBuf returns the queue, creating it. Under mu.
func (pc *peerConn) outBuf() *bytebufferpool.ByteBuffer {
	if pc.out == nil {
		pc.out = pc.n.outPool.Get()
	}
	return pc.out
}

// wakeLocked returns the conn to wake, or nil if a wake is already pending
// or the socket is not open yet (OnOpen sends the queue). Under mu.
func (pc *peerConn) wakeLocked() gnet.Conn {
	if pc.woken || pc.c == nil {
		return nil
	}
	pc.woken = true
	return pc.c
}

// directMax is the largest queue flushLocked writes from the calling
// goroutine; a larger one waits for the loop, so that nobody holds mu
// through a long copy into the socket.
const directMax = 64 << 10

// flushLocked sends the queue after a request. When the link is idle
// (alone: no request in flight but the caller's own, see alone; plain, or
// secure with a sealed queue, which is in nonce order; past its handshake,
// not short, its loop neither serving nor writing it, gnet holding none of
// its bytes) it writes the queue to the socket from the
// calling goroutine: no wake of the loop, no hop to the loop's thread. A
// busy link keeps queueing, so that concurrent callers share the loop's
// one write per batch; so do other frames (answers from workers, notices,
// broadcasts), which no caller waits on. This
// is safe because the loop writes the link only while loopBusy (set under
// mu) or, after a write the socket did not take whole, while backlog; and
// gnet closes the socket only after OnClose has set closeErr under mu. What
// the socket does not take stays queued for the loop. It returns the conn
// to wake, as wakeLocked does, or nil. Under mu.
func (pc *peerConn) flushLocked(alone bool) gnet.Conn {
	if pc.woken || pc.c == nil {
		return nil
	}
	if alone && !pc.loopBusy && !pc.backlog && !pc.short && (pc.sec == nil || pc.sealing) &&
		pc.closeErr == nil && len(pc.out.B) <= directMax && pc.state.Load() != stateHandshake {
		n, _ := unix.Write(pc.c.Fd(), pc.out.B)
		if n > 0 {
			pc.queued.Add(-int64(n))
			pc.bytesOut.Add(uint64(n))
			pc.n.stats.bytesOut.Add(uint64(n))
			if n == len(pc.out.B) {
				pc.n.outPool.Put(pc.out)
				pc.out = nil
				return nil
			}
			pc.out.B = pc.out.B[:copy(pc.out.B, pc.out.B[n:])]
		}
	}
	return pc.wakeLocked()
}

// crowdMemory is how many requests a link keeps queueing for its loop
// after it last saw two in flight at once.
const crowdMemory = 64

// alone reports whether a request being sent is the link's only one and
// has been for a while: none in flight but its own, and none crowded in
// crowdMemory requests before. Concurrent callers are better served by
// sharing the loop's write than by queueing on mu one syscall after
// another. Under mu.
func (pc *peerConn) alone() bool {
	if pc.inflight.Load() > 1 {
		pc.crowd = crowdMemory
		return false
	}
	if pc.crowd > 0 {
		pc.crowd--
		return false
	}
	return true
}

// loopStart marks the loop as serving the link: writes from other
// goroutines queue until loopEnd. Loop.
func (pc *peerConn) loopStart() {
	pc.mu.Lock()
	pc.loopBusy = true
	pc.mu.Unlock()
}

// loopEnd ends loopStart once the loop's write is done; backlog says gnet
// kept some of it. Loop.
func (pc *peerConn) loopEnd(backlog bool) {
	pc.mu.Lock()
	pc.loopBusy = false
	pc.backlog = backlog
	pc.mu.Unlock()
}

// markAnswered marks an inbound short link's answer as written or queued: the
// link closes once nothing is left to flush.
func (pc *peerConn) markAnswered() {
	if pc.short && !pc.outbound {
		pc.state.mark(flagCloseAfterReply)
	}
}

// outEmpty reports whether no frame is queued.
func (pc *peerConn) outEmpty() bool {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.out == nil || len(pc.out.B) == 0
}

// takeOut returns the queued frames, or nil; their bytes move from the
// queue's count to the loop's. Loop.
func (pc *peerConn) takeOut() *bytebufferpool.ByteBuffer {
	pc.mu.Lock()
	out := pc.takeOutLocked()
	pc.mu.Unlock()
	return out
}

// takeOutLocked is takeOut under mu.
func (pc *peerConn) takeOutLocked() *bytebufferpool.ByteBuffer {
	out := pc.out
	pc.out = nil
	pc.woken = false
	pc.unsent.Add(pc.queued.Swap(0))
	return out
}

// complete hands an answer to the request id. It reports false for an id
// that has no waiter (late answer after a timeout, or a peer's mistake).
func (pc *peerConn) complete(id uint64, reply []byte, err error) bool {
	pc.mu.Lock()
	f := pc.pending[id]
	if f != nil {
		delete(pc.pending, id)
		pc.inflight.Add(-1)
		pc.n.stats.inflight.Add(-1)
	}
	pc.mu.Unlock()
	if f == nil {
		return false
	}
	f.Complete(reply, err)
	return true
}

// cancel withdraws request id; false means an answer is already on its way
// to the future.
func (pc *peerConn) cancel(id uint64) bool {
	pc.mu.Lock()
	_, ok := pc.pending[id]
	if ok {
		delete(pc.pending, id)
		pc.inflight.Add(-1)
		pc.n.stats.inflight.Add(-1)
	}
	pc.mu.Unlock()
	return ok
}

// fail closes the conn's request side with err and fails every pending
// request with it. Safe to call more than once.
func (pc *peerConn) fail(err error) {
	pc.mu.Lock()
	if pc.closeErr != nil {
		pc.mu.Unlock()
		return
	}
	pc.closeErr = new(error) // only the first call allocates
	*pc.closeErr = err
	waiting := pc.pending
	pc.pending = nil
	pc.n.stats.inflight.Add(-int64(len(waiting)))
	pc.inflight.Store(0)
	pc.mu.Unlock()
	for _, f := range waiting {
		f.Complete(nil, err)
	}
}

// usable reports whether new requests may go on the link.
func (pc *peerConn) usable() error {
	switch pc.state.Load() {
	case stateReady:
		return nil
	case stateDraining:
		return ErrDraining
	case stateClosed:
		return ErrConnLost
	}
	return ErrNotConnected
}

// setConn publishes the gnet conn, its socket and its loop. Loop, in
// OnOpen.
func (pc *peerConn) setConn(c gnet.Conn) {
	ls := pc.n.own.loopOf(c)
	pc.mu.Lock()
	pc.c, pc.ls = c, ls
	pc.mu.Unlock()
}

// close closes the socket from any goroutine; a no-op before it opened.
func (pc *peerConn) close() {
	pc.mu.Lock()
	c := pc.c
	pc.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
}

// abandon is the dialer giving up: pending requests fail with err and the
// socket closes now or as soon as it opens.
func (pc *peerConn) abandon(err error) {
	pc.state.mark(flagAbandoned)
	pc.fail(err)
	pc.close()
}

func (pc *peerConn) setDeadline(d time.Duration) {
	pc.deadline.Store(time.Now().Add(d).UnixNano())
}
