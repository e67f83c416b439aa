package engine

import (
	"errors"
	"math"
	"net"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/valyala/bytebufferpool"
	"golang.org/x/sys/unix"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/internal/acceptor"
	"github.com/antnet-p2p/antnet/internal/link"
	"github.com/antnet-p2p/antnet/internal/short"
)

// Short requests served by the acceptor. A short-mode socket carries hello
// and one message; when both already lie whole in the accepted socket's
// receive buffer (a short-mode node's listener defers the accept until the
// first bytes arrive: internal/acceptor), the accept goroutine serves it
// itself, without a gnet loop: it peeks at the bytes, takes them, runs the
// handler, writes hello-ack and the answer in one non-blocking write and
// closes first (the TIME_WAIT stays here, not with the dialer). Everything
// else is enrolled on a loop as before, with its bytes still unread: a
// secure node (the Noise handshake takes round trips), a node with
// WithWorkers (the handler must run on a worker, whose answer goes out
// through the loop's queue), a persistent hello, bytes still missing or
// more than hello and one message, a frame other than a request or a
// notice, and any hello the node would refuse (the loop refuses it as it
// always did, with the reason). A handler that defers its answer, and an
// answer the socket does not take whole, go to a loop too, with the socket
// already past its handshake (openServed).
//
// The handler then runs on the accept goroutine, which counts as an event
// loop: it must not block (blocking calls get ErrOnEventLoop), and while it
// runs no socket is accepted. No goroutine is added.

// shortPeekMax is the most the acceptor peeks at: hello and one message
// larger than this go to a loop.
const shortPeekMax = 16 << 10

// shortServer is what the accept goroutine reuses from one inline short
// request to the next. Accept goroutine only.
type shortServer struct {
	buf []byte                    // peeked input
	w   bytebufferpool.ByteBuffer // hello-ack and the answer
	ls  loopState                 // the handler's record (markRan, stalls; index -1: not a loop)
}

// serveShort serves c inline if it carries a whole short-mode exchange
// the acceptor may serve, and reports whether it took c (served and
// closed, or handed to a loop; an error is the hand-off's enroll's).
// False leaves c untouched for enroll.
// Accept goroutine.
func (n *Node) serveShort(c *net.TCPConn) (bool, error) {
	if n.cfg.Identity != nil || n.workers.Started() || n.handler == nil {
		return false, nil
	}
	ss := &n.shortSrv
	if ss.buf == nil {
		ss.buf = make([]byte, shortPeekMax)
		ss.ls.index = -1
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return false, nil
	}
	k := 0
	_ = rc.Read(func(fd uintptr) bool {
		k = acceptor.Peek(int(fd), ss.buf)
		return true
	})
	if k <= 0 || k == len(ss.buf) {
		return false, nil
	}
	in, ok := short.Whole(ss.buf[:k], maxHandshakeFrame, n.cfg.MaxFrame)
	h, mf := in.Hello, in.Msg
	if !ok || h.Nonce == n.nonce || h.ID.Addr == n.id.Addr || n.checkPin(h.ID.Addr, "") != nil {
		return false, nil // refused on the loop, with the reason
	}
	// Take the bytes: they are all there, the read does not wait.
	got := 0
	_ = rc.Read(func(fd uintptr) bool {
		got, _ = unix.Read(int(fd), ss.buf[:k])
		return true
	})
	if got != k {
		_ = c.Close()
		return true, nil
	}
	pc := newPeerConn(n, false)
	pc.SetShort(true)
	pc.State.Mark(link.FlagShortServed)
	if !h.Listens() {
		h.ID.Addr = c.RemoteAddr().String()
		pc.dialOnly = true
	}
	pc.setPeer(h.ID, nil)
	pc.peerNonce = h.Nonce
	pc.ls = &ss.ls
	pc.linked()
	pc.State.Store(link.Ready)
	n.stats.Conns.Add(1)
	pc.countReady(1)
	n.stats.FramesIn.Add(2)
	n.stats.BytesIn.Add(uint64(k))

	w := &ss.w
	w.B = n.appendHello(w.B[:0], codec.KindHelloAck, true)
	start := n.stalls.start(&ss.ls) // a handler that blocks here stalls the accepts: counted as a loop's would be
	pc.handle(&mf, nil, w)
	n.stalls.end(&ss.ls, "accept (short request)", start)
	if ss.ls.ctx.deferred {
		// The answer comes later from another goroutine: a loop takes the
		// socket, hello-ack first.
		return n.handOff(c, pc, w.B)
	}
	wrote := 0
	_ = rc.Write(func(fd uintptr) bool {
		wrote = short.Answer(int(fd), w.B) // with the FIN right after it when the socket took it all
		return true
	})
	if wrote < len(w.B) && wrote >= 0 {
		return n.handOff(c, pc, w.B[wrote:]) // the socket did not take it all
	}
	n.linkEnv.BytesOut.Add(uint64(len(w.B)))
	pc.State.Store(link.Closed)
	pc.countReady(-1)
	n.stats.Conns.Add(-1)
	_ = c.Close()
	return true, nil
}

// handOff enrolls c on a loop past its handshake, with out queued ahead of
// whatever the handler answers later; the loop writes it and closes once
// the answer is out (openServed). Accept goroutine.
func (n *Node) handOff(c *net.TCPConn, pc *peerConn, out []byte) (bool, error) {
	pc.countReady(-1) // counted again in openServed
	n.stats.Conns.Add(-1)
	pc.ls = nil // OnOpen sets its loop's
	pc.Prepend(&n.linkEnv, out)
	if err := n.dials.Add(c, pc); err != nil {
		pc.fail(ErrClosed)
		if !errors.Is(err, ErrClosed) {
			return true, err // short of descriptors: the accept loop backs off
		}
	}
	return true, nil
}

// servedInline reports whether OnOpen got a socket the acceptor already
// served (its handshake is done): see handOff.
func (pc *peerConn) servedInline() bool {
	return !pc.Outbound() && pc.State.Load() != link.Handshake
}

// openServed opens a socket handed off by the acceptor: it joins the
// node's conns, gets the short-link deadline, and writes what is queued
// (hello-ack, and the answer if it is there yet). Loop, in OnOpen.
func (pc *peerConn) openServed(c gnet.Conn) ([]byte, gnet.Action) {
	n := pc.n
	pc.raddr, _ = c.RemoteAddr().(*net.TCPAddr)
	pc.setDeadline(n.cfg.Timeout)
	pc.lastRecv.Store(n.clock.Load())
	n.conns.Store(pc)
	n.stats.Conns.Add(1)
	pc.countReady(1)
	out := pc.TakeOut()
	if out == nil {
		return nil, gnet.None
	}
	b := append([]byte(nil), out.B...)
	n.linkEnv.Pool.Put(out)
	pc.CountWrite(&n.linkEnv, len(b))
	if pc.State.Has(link.FlagCloseAfterReply) {
		_ = c.Wake(nil) // OnTraffic closes it once the answer is flushed
	}
	return b, gnet.None
}

// closeWhenFlushed is OnTraffic's last word on a short link whose answer
// is out: close once gnet holds none of it. gnet has no callback for "the
// socket drained", so an answer larger than the socket buffer is looked at
// again by the pacer, every millisecond while the peer reads. Loop.
func (pc *peerConn) closeWhenFlushed(c gnet.Conn) gnet.Action {
	n := pc.n
	if !pc.State.Has(link.FlagCloseAfterReply) {
		return gnet.None
	}
	if c.OutboundBuffered() == 0 && pc.OutEmpty() {
		return gnet.Close
	}
	if pc.Short() && !pc.paused {
		out := c.OutboundBuffered()
		progressed := !pc.paced || out < int(pc.pacedOut)
		pc.paced, pc.pacedOut = true, int32(min(out, math.MaxInt32))
		n.pacer.Hold(pc, progressed, time.Now())
	}
	return gnet.None
}
