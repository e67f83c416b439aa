package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/valyala/bytebufferpool"

	"github.com/antnet-p2p/antnet/broadcast"
	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/internal/canary"
	"github.com/antnet-p2p/antnet/internal/firstframe"
	"github.com/antnet-p2p/antnet/internal/link"
	"github.com/antnet-p2p/antnet/internal/short"
	"github.com/antnet-p2p/antnet/internal/sockaddr"
	"github.com/antnet-p2p/antnet/proto"
)

const codecGoaway = codec.KindGoaway

// How often OnTick sweeps: every tickEvery while anything timed is pending
// (handshake, drain and short-link deadlines, redials, dials, discovery
// short of links), else every quietTickEvery, so an idle node costs a
// wake-up four times a second, not twenty.
const (
	tickEvery      = 50 * time.Millisecond
	quietTickEvery = 250 * time.Millisecond
)

// reactor is what runs the node's sockets: gnet's client (the event loops
// and the ticker, no listener), the node's own listener and its accept
// goroutine, and the loops' canaries (listen.go).
type reactor struct {
	cli        *gnet.Client
	ln         *net.TCPListener
	acceptDone chan struct{} // closed when the accept goroutine returns
	canaries   canary.Set    // our ends of the loop canaries
}

// events is the node's gnet.EventHandler. Every callback but OnBoot,
// OnShutdown and OnTick runs on the connection's event loop.
type events struct {
	gnet.BuiltinEventEngine
	n           *Node
	nextSweep   time.Time // OnTick's goroutine only
	lastRelease time.Time // OnTick's goroutine only: the last sweep that released idle links' extras
}

// OnOpen greets: a dialed socket sends hello (plus, in short mode, its
// request); an accepted one waits for hello until the handshake deadline.
func (ev *events) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	n := ev.n
	n.own.loopOf(c)
	if _, ok := c.Context().(loopCanary); ok {
		return nil, gnet.None
	}
	pc, _ := c.Context().(*peerConn)
	if pc == nil {
		pc = newPeerConn(n, false)
		c.SetContext(pc)
	}
	pc.setConn(c)
	if pc.servedInline() {
		return pc.openServed(c) // handed off by the acceptor: shortserve.go
	}
	return pc.open(c)
}

func (ev *events) OnClose(c gnet.Conn, err error) gnet.Action {
	if _, ok := c.Context().(loopCanary); ok {
		ev.n.reactorDied(err) // a no-op unless the node is running
		return gnet.None
	}
	pc, _ := c.Context().(*peerConn)
	if pc == nil {
		return gnet.None
	}
	ls := ev.n.own.loopOf(c)
	start := ev.n.stalls.start(ls)
	pc.connClosed(err)
	ev.n.stalls.end(ls, "OnClose", start)
	return gnet.None
}

// OnTraffic decodes every whole frame buffered on c, serves them, and writes
// all answers plus whatever other goroutines queued with one write.
func (ev *events) OnTraffic(c gnet.Conn) gnet.Action {
	pc := c.Context().(*peerConn)
	n := ev.n
	if c.InboundBuffered() > 0 {
		pc.lastRecv.Store(n.clock.Load())
	}
	ls := n.own.loopOf(c)
	start := n.stalls.start(ls)
	w := &ls.w
	w.B = w.B[:0]
	pc.LoopStart()
	action := pc.serve(c, w)
	if pc.Session() != nil {
		var err error
		if w, err = pc.SealBatch(&n.linkEnv, w, &ls.sealed); err != nil {
			n.log.Error("seal failed", "remote", pc.remote(), "err", err)
		}
	} else if n.cfg.Identity == nil { // a secure link queues until its session exists
		pc.AppendOut(&n.linkEnv, w)
	}
	if len(w.B) > 0 {
		pc.CountWrite(&n.linkEnv, len(w.B))
		_, _ = c.Write(w.B)
	}
	ls.trim()
	pc.LoopEnd(c.OutboundBuffered())
	if action == gnet.None && (pc.paused || pc.paced) {
		action = pc.pace(c)
	}
	if action == gnet.None {
		action = pc.closeWhenFlushed(c)
	}
	n.stalls.end(ls, "OnTraffic", start)
	if pc.TakeAnswered() {
		if action == gnet.None {
			// Run the callers the answers readied on this P now, instead of
			// leaving them in its run queue while the loop sits in
			// epoll_wait until sysmon takes the P back (20 µs and more). Not
			// on a link about to close: its callers see it closed first.
			runtime.Gosched()
		}
	}
	return action
}

// loopState is what one event loop reuses across callbacks: the batch
// buffer answers are gathered in, the buffer they are sealed into, and the
// links the batch queued frames to. Only that loop touches it.
type loopState struct {
	index     int   // the loop's number, from 0, in the order they first ran a callback (logs)
	ran       uint8 // what ran in the callback being timed (see stall.go)
	w, sealed bytebufferpool.ByteBuffer
	dirty     []*peerConn                   // links writeOnLoop queued to, written by flushDirty
	flush     gnet.AsyncCallback            // flushDirty, made once
	treeSend  broadcast.Sender[*routeEntry] // the tree's sends from this loop, made once
	ctx       handlerContext                // the context handed to the loop's handlers (see handle)
	inHandler bool                          // a handler runs on the loop now, with ctx
}

// dirty lists pc, whose queue writeOnLoop filled, for the loop to write
// once it has served every event of this poll: the first link listed is
// woken with flushDirty as its callback, and that one wake writes every
// listed link, each with one write. A loop forwarding a broadcast to its
// own links thus makes one wake per poll, not one per link, and each link
// gets all the frames that poll queued for it together. Loop (pc's own).
func (pc *peerConn) dirty() {
	ls := pc.ls
	ls.dirty = append(ls.dirty, pc)
	if len(ls.dirty) > 1 {
		return
	}
	if ls.flush == nil {
		ls.flush = func(gnet.Conn, error) error { ls.flushDirty(); return nil }
	}
	if pc.Conn().Wake(ls.flush) != nil {
		ls.flushDirty() // the loop is stopping: write now
	}
}

// flushDirty writes every link dirty listed. Loop.
func (ls *loopState) flushDirty() {
	for i, pc := range ls.dirty {
		pc.flushOnLoop()
		ls.dirty[i] = nil
	}
	ls.dirty = ls.dirty[:0]
}

// maxKeptBatch is the largest batch buffer a loop keeps between callbacks.
const maxKeptBatch = 4 << 20

// trim drops buffers that one huge batch grew, so a loop does not hold on
// to them.
func (ls *loopState) trim() {
	if cap(ls.w.B) > maxKeptBatch {
		ls.w.B = nil
	}
	if cap(ls.sealed.B) > maxKeptBatch {
		ls.sealed.B = nil
	}
}

// OnTick enforces deadlines: handshakes that did not finish and drains that
// did not end are closed.
// It also wakes links paused at the high-water mark, every few
// milliseconds while there are any (see pacer).
func (ev *events) OnTick() (time.Duration, gnet.Action) {
	now := time.Now()
	if !now.Before(ev.nextSweep) {
		every := tickEvery
		release := now.Sub(ev.lastRelease) >= releaseEvery
		if release {
			ev.lastRelease = now
		}
		if !ev.n.sweep(now, release) {
			every = ev.n.cfg.quietEvery()
		}
		ev.nextSweep = now.Add(every)
	}
	delay := ev.nextSweep.Sub(now)
	if d, ok := ev.n.pacer.WakeDue(now, wakeLink); ok && d < delay {
		delay = d
	}
	return max(delay, minPace), gnet.None
}

// serve handles the frames buffered on c, appending answers to w. Once
// what the node holds for the peer (gnet's outbound buffer, the queue and
// the answers in w) reaches the high-water mark, it stops and marks pc
// paused; OnTraffic then paces it. So the node never holds more than the
// mark plus one answer for a peer. Loop.
func (pc *peerConn) serve(c gnet.Conn, w *bytebufferpool.ByteBuffer) gnet.Action {
	n := pc.n
	hw, seal := n.cfg.HighWater, n.cfg.SealOverhead()
	held := 0 // gnet's outbound buffer plus the answers in w, as they will be sent
	if hw > 0 {
		held = c.OutboundBuffered()
		pc.SetUnsent(held)
	}
	pc.paused = false
	var batch linkBatch
	defer batch.add(pc)
	for {
		limit := n.cfg.MaxFrame
		if pc.State.Load() == link.Handshake {
			limit = min(limit, maxHandshakeFrame) // and no pausing: the handshake's answers are small
		} else if hw > 0 && held+int(pc.Queued()) >= hw {
			pc.paused = c.InboundBuffered() > 0
			return gnet.None
		}
		f, size, ok, err := codec.Next(c, limit)
		if err != nil {
			n.stats.ProtocolErrors.Add(1)
			pc.setDown(ReasonProtocol)
			if pc.State.Load() == link.Handshake {
				// Name what the peer sent: the first bytes say which protocol it speaks.
				prefix, _ := c.Peek(min(c.InboundBuffered(), 8))
				err = firstframe.Explain(prefix, err)
			}
			err = fmt.Errorf("%w: %w", ErrProtocol, err)
			pc.logClosed(slog.LevelWarn, err)
			pc.setDialErr(err) // AddRoute says why
			pc.fail(err)
			return gnet.Close
		}
		if !ok {
			return gnet.None
		}
		batch.frames++
		batch.bytes += uint64(size)
		if pc.Session() != nil {
			if err := pc.Secure().Session.Open(&f); err != nil {
				n.stats.Tampered.Add(1)
				return pc.violation(err)
			}
		}
		before := len(w.B)
		action := pc.frame(&f, w)
		_, _ = c.Discard(size)
		if len(w.B) != before {
			batch.answers++ // one answer per frame
		}
		if action != gnet.None {
			return action
		}
		if hw > 0 && len(w.B) != before {
			held += len(w.B) - before + seal // one answer per frame
			pc.SetUnsent(held)
		}
	}
}

// frame handles one frame. Loop.
func (pc *peerConn) frame(f *codec.Frame, w *bytebufferpool.ByteBuffer) gnet.Action {
	n := pc.n
	if pc.State.Load() == link.Handshake {
		return pc.handshakeFrame(f, w)
	}
	if pc.Short() {
		if err := pc.shortFrame(f.Kind); err != nil {
			return pc.violation(err)
		}
	}
	switch f.Kind {
	case codec.KindRequest, codec.KindNotice:
		pc.handle(f, nil, w)
	case codec.KindResponse:
		if !pc.Complete(&n.linkEnv, f.ID, f.Payload, nil) {
			n.stats.UnknownReplies.Add(1)
		}
		return pc.afterAnswer()
	case codec.KindError:
		n.stats.RemoteErrors.Add(1)
		if !pc.Complete(&n.linkEnv, f.ID, nil, proto.ParseError(*pc.peer, f.Payload)) {
			n.stats.UnknownReplies.Add(1)
		}
		return pc.afterAnswer()
	case codec.KindPing:
		w.B = codec.AppendHeader(w.B, codec.KindPong, 0, 0, f.ID, 0)
	case codec.KindPong:
		pc.pong(f.ID)
	case codec.KindGoaway:
		switch proto.GoawayReason(f.Payload) {
		case proto.GoawayTooManyLinks:
			pc.setDown(ReasonTooManyLinks)
		case proto.GoawayClosing:
			pc.fail(ErrPeerClosed) // it will answer none of them: say so now
		}
		pc.State.Mark(link.FlagGoawayRecv)
		pc.setDown(ReasonGoaway)
		pc.retire()
	case codec.KindGossip:
		return pc.gossip(f, w)
	case codec.KindPrune, codec.KindIHave, codec.KindGraft:
		return pc.treeControl(f)
	case codec.KindHello, codec.KindHelloAck, codec.KindSecure:
		return pc.violation(fmt.Errorf("%s after handshake", f.Kind))
	case 0:
		return pc.violation(errors.New("frame of kind 0"))
	case codec.KindPexRequest, codec.KindPexResponse:
		if ok, action := pc.pexFrame(f, w); ok {
			return action
		}
		fallthrough // discovery off: an unknown kind
	default:
		n.stats.UnknownKinds.Add(1)
		n.log.Debug("unknown frame kind", "remote", remoteName{pc}, "kind", f.Kind.String())
		if f.ID != 0 {
			w.B = appendError(w.B, f.ID, proto.CodeUnsupported, "unknown frame kind "+strconv.Itoa(int(f.Kind)))
		}
	}
	return gnet.None
}

// shortFrame enforces that a short-mode link carries one message each way:
// the acceptor takes one frame after the hello, the dialer only the answer
// to its request. Loop.
func (pc *peerConn) shortFrame(k codec.Kind) error {
	if pc.Outbound() {
		if k != codec.KindResponse && k != codec.KindError {
			return fmt.Errorf("%s on a short-mode link, want the answer", k)
		}
		return nil
	}
	if !pc.State.Mark(link.FlagShortServed) {
		return fmt.Errorf("%s after the one message of a short-mode link", k)
	}
	return nil
}

// afterAnswer runs after a response: a short link waits for the acceptor
// to close first (its TIME_WAIT stays there), at most short.CloseGrace;
// draining links may be done.
func (pc *peerConn) afterAnswer() gnet.Action {
	if pc.Short() && pc.Outbound() {
		pc.setDeadline(short.CloseGrace)
		return gnet.None
	}
	if pc.State.Load() == link.Draining {
		pc.finishDrain()
	}
	return gnet.None
}

func (pc *peerConn) violation(err error) gnet.Action {
	n := pc.n
	n.stats.ProtocolErrors.Add(1)
	pc.setDown(ReasonProtocol)
	pc.setDialErr(fmt.Errorf("%w: %w", ErrHandshake, err)) // the dialer says why
	err = fmt.Errorf("%w: %w", ErrProtocol, err)
	pc.logClosed(slog.LevelWarn, err)
	pc.fail(err)
	return gnet.Close
}

// logClosed logs, within the rate limit, a link closed because of what the
// peer did: a refusal if the node accepted it and its handshake had not
// finished. Protocol violations are Warn. Any goroutine.
func (pc *peerConn) logClosed(level slog.Level, err error) {
	n := pc.n
	if !pc.Outbound() && pc.State.Load() == link.Handshake {
		n.peerLog.Refused(level, pc.remote(), err)
	} else if n.peerLog.Allow(level) {
		n.log.Log(context.Background(), level, "closing connection", "remote", pc.remote(), "err", err)
	}
}

func appendError(dst []byte, id uint64, code proto.Code, msg string) []byte {
	dst = codec.AppendHeader(dst, codec.KindError, 0, 0, id, 1+len(msg))
	return proto.AppendError(dst, code, msg)
}

// remote is a printable name for the other end: its PeerID once known,
// else the socket's remote address as OnOpen saw it. Any goroutine.
func (pc *peerConn) remote() string {
	if pc.State.Load() != link.Handshake {
		return pc.peer.String()
	}
	return sockaddr.HostPort(pc.raddr)
}

// remoteName logs pc.remote() lazily: a debug line that is not written
// builds no string.
type remoteName struct{ pc *peerConn }

// LogValue implements slog.LogValuer.
func (r remoteName) LogValue() slog.Value { return slog.StringValue(r.pc.remote()) }

// connClosed runs in OnClose: the socket is gone. Loop.
func (pc *peerConn) connClosed(err error) {
	n := pc.n
	prev := pc.State.Swap(link.Closed)
	if n.conns.LoadAndDelete(pc) {
		n.stats.Conns.Add(-1)
	}
	if prev == link.Handshake {
		pc.handshakeDone()
	} else if prev != link.Closed {
		pc.countReady(-1)
	}
	cause := ErrConnLost
	if n.life.state.Load() != nodeRunning {
		cause = ErrClosed
	}
	if err != nil {
		pc.fail(fmt.Errorf("%w: %v", cause, err))
	} else {
		pc.fail(cause)
	}
	if out := pc.TakeOut(); out != nil {
		n.linkEnv.Pool.Put(out)
	}
	pc.unpace()
	if prev == link.Handshake && pc.Outbound() {
		if pc.dial.err == nil {
			pc.dial.err = silentClose(pc.NoisePending(), err)
		}
		close(pc.dial.ready)
	}
	if pc.entry != nil {
		pc.detach()
		pc.upkeepLost()
	}
	if err != nil && !errors.Is(err, io.EOF) {
		n.log.Debug("connection closed", "remote", remoteName{pc}, "err", err)
	}
}

// wakeLink wakes a paused link's loop to look at it again (see pace.go).
func wakeLink(pc *peerConn) { _ = pc.Conn().Wake(nil) }
