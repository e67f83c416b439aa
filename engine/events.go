package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strconv"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/valyala/bytebufferpool"

	"github.com/antnet-p2p/antnet/broadcast"
	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/proto"
	"github.com/antnet-p2p/antnet/route"
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

// events is the node's gnet.EventHandler. Every callback but OnBoot,
// OnShutdown and OnTick runs on the connection's event loop.
type events struct {
	gnet.BuiltinEventEngine
	n         *Node
	nextSweep time.Time // OnTick's goroutine only
}

// OnOpen greets: a dialed socket sends hello (plus, in short mode, its
// request); an accepted one waits for hello until the handshake deadline.
func (ev *events) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	n := ev.n
	n.loopOf(c)
	if _, ok := c.Context().(loopCanary); ok {
		return nil, gnet.None
	}
	pc, _ := c.Context().(*peerConn)
	if pc == nil {
		pc = newPeerConn(n, false)
		c.SetContext(pc)
	}
	pc.setConn(c)
	if pc.outbound && !pc.short {
		n.setPeerSocket(c.Fd()) // an accepted socket once its hello says persistent
	}
	if pc.abandoned.Load() || n.state.Load() != nodeRunning {
		// The dialer gave up before the socket arrived, or the node is closing.
		pc.fail(ErrClosed)
		return nil, gnet.Close
	}
	if !pc.outbound {
		if refuse := n.refusalReason(); refuse != "" {
			n.stats.refused.Add(1)
			if n.logRemote(slog.LevelInfo) {
				n.log.Info("refused connection", "remote", c.RemoteAddr().String(), "reason", refuse)
			}
			pc.fail(ErrClosed)
			return appendError(nil, 0, proto.CodeUnsupported, refuse), gnet.Close
		}
		pc.holdsHandshakeSlot = true
	}
	if a := c.RemoteAddr(); a != nil {
		pc.remoteAddr = a.String() // the ticker may print it: RemoteAddr is loop-only
	}
	pc.setDeadline(n.cfg.handshakeTimeout)
	pc.lastRecv.Store(n.clock.Load())
	n.conns.Store(pc, struct{}{})
	n.stats.conns.Add(1)
	if !pc.outbound {
		return nil, gnet.None
	}
	if n.cfg.identity != nil {
		msg, err := n.startSecure(pc)
		if err != nil {
			pc.hsErr = fmt.Errorf("%w: %w", ErrHandshake, err)
			return nil, gnet.Close
		}
		return msg, gnet.None // hello follows the Noise handshake, sealed
	}
	out := pc.takeOut() // short mode queued its request before the dial
	buf := n.appendHello(nil, codec.KindHello, pc.short)
	pc.loopFrames.Add(1)
	if out != nil {
		buf = append(buf, out.B...)
		n.outPool.Put(out)
	}
	pc.bytesOut.Add(uint64(len(buf)))
	return buf, gnet.None
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
	ls := ev.n.loopOf(c)
	start := ev.n.callbackStart(ls)
	ev.n.connClosed(pc, err)
	ev.n.callbackEnd(ls, "OnClose", start)
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
	ls := n.loopOf(c)
	start := n.callbackStart(ls)
	w := &ls.w
	w.B = w.B[:0]
	pc.loopStart()
	action := n.serve(pc, c, w)
	if pc.sess != nil {
		w = n.sealBatch(pc, w, &ls.sealed)
	} else if n.cfg.identity == nil { // a secure link queues until its session exists
		if out := pc.takeOut(); out != nil {
			w.B = append(w.B, out.B...)
			n.outPool.Put(out)
		}
	}
	if len(w.B) > 0 {
		n.stats.bytesOut.Add(uint64(len(w.B)))
		pc.bytesOut.Add(uint64(len(w.B)))
		_, _ = c.Write(w.B)
	}
	ls.trim()
	unsent := c.OutboundBuffered()
	pc.unsent.Store(int64(unsent))
	pc.loopEnd(unsent > 0)
	if action == gnet.None && (pc.paused || pc.paced) {
		action = n.pace(pc, c)
	}
	if action == gnet.None && pc.closeAfterReply.Load() && c.OutboundBuffered() == 0 && pc.outEmpty() {
		action = gnet.Close
	}
	n.callbackEnd(ls, "OnTraffic", start)
	if pc.answered {
		pc.answered = false
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
	dirty     []*peerConn                    // links writeOnLoop queued to, written by flushDirty
	flush     gnet.AsyncCallback             // flushDirty, made once
	treeSend  broadcast.Sender[*route.Entry] // the tree's sends from this loop, made once
	ctx       handlerContext                 // the context handed to the loop's handlers (see handle)
	inHandler bool                           // a handler runs on the loop now, with ctx
}

// dirty lists pc, whose queue writeOnLoop filled, for the loop to write
// once it has served every event of this poll: the first link listed is
// woken with flushDirty as its callback, and that one wake writes every
// listed link, each with one write. A loop forwarding a broadcast to its
// own links thus makes one wake per poll, not one per link, and each link
// gets all the frames that poll queued for it together. Loop (pc's own).
func (n *Node) dirty(pc *peerConn) {
	ls := pc.ls
	ls.dirty = append(ls.dirty, pc)
	if len(ls.dirty) > 1 {
		return
	}
	if ls.flush == nil {
		ls.flush = func(gnet.Conn, error) error { n.flushDirty(ls); return nil }
	}
	if pc.c.Wake(ls.flush) != nil {
		n.flushDirty(ls) // the loop is stopping: write now
	}
}

// flushDirty writes every link dirty listed. Loop.
func (n *Node) flushDirty(ls *loopState) {
	for i, pc := range ls.dirty {
		n.flushOnLoop(pc)
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

// loopOf returns c's event loop's state, creating it (and noting the loop's
// goroutine for ErrOnEventLoop) the first time. Loop.
func (n *Node) loopOf(c gnet.Conn) *loopState {
	el := c.EventLoop()
	if v, ok := n.loopStates.Load(el); ok {
		return v.(*loopState)
	}
	id := goid()
	n.ownGoroutines.Store(id, loopGoroutine)
	v, _ := n.loopStates.LoadOrStore(el, &loopState{index: int(n.loopCount.Add(1)) - 1})
	n.loopByGoroutine.Store(id, v)
	return v.(*loopState)
}

// OnTick enforces deadlines: handshakes that did not finish and drains that
// did not end are closed.
// It also wakes links paused at the high-water mark, every few
// milliseconds while there are any (see pacer).
func (ev *events) OnTick() (time.Duration, gnet.Action) {
	now := time.Now()
	if !now.Before(ev.nextSweep) {
		every := tickEvery
		if !ev.n.sweep(now) {
			every = ev.n.quietEvery()
		}
		ev.nextSweep = now.Add(every)
	}
	delay := ev.nextSweep.Sub(now)
	if d, ok := ev.n.pacer.wakeDue(now); ok && d < delay {
		delay = d
	}
	return max(delay, minPace), gnet.None
}

// maxHandshakeFrame bounds every frame a link takes before its handshake
// completes: the largest hello (16 + 1+255+1+255+8 = 536 bytes; 552
// sealed), the Noise messages (at most 112 bytes) and a refusal fit with
// room to spare. A socket that has not finished its handshake thus makes
// the node hold at most this much of its input, whatever the max frame
// size; a length prefix announcing more closes it as soon as it arrives.
const maxHandshakeFrame = 4096

// serve handles the frames buffered on c, appending answers to w. Once
// what the node holds for the peer (gnet's outbound buffer, the queue and
// the answers in w) reaches the high-water mark, it stops and marks pc
// paused; OnTraffic then paces it. So the node never holds more than the
// mark plus one answer for a peer. Loop.
func (n *Node) serve(pc *peerConn, c gnet.Conn, w *bytebufferpool.ByteBuffer) gnet.Action {
	hw, seal := n.cfg.highWater, n.sealOverhead()
	held := 0 // gnet's outbound buffer plus the answers in w, as they will be sent
	if hw > 0 {
		held = c.OutboundBuffered()
		pc.unsent.Store(int64(held))
	}
	pc.paused = false
	var batch linkBatch
	defer batch.add(pc)
	for {
		limit := n.cfg.maxFrame
		if pc.state.Load() == stateHandshake {
			limit = min(limit, maxHandshakeFrame) // and no pausing: the handshake's answers are small
		} else if hw > 0 && held+int(pc.queued.Load()) >= hw {
			pc.paused = c.InboundBuffered() > 0
			return gnet.None
		}
		f, size, ok, err := codec.Next(c, limit)
		if err != nil {
			n.stats.protocolErrors.Add(1)
			pc.setDown(ReasonProtocol)
			if pc.state.Load() == stateHandshake {
				// Name what the peer sent: the first bytes say which protocol it speaks.
				prefix, _ := c.Peek(min(c.InboundBuffered(), 8))
				err = firstFrameError(prefix, err)
			}
			err = fmt.Errorf("%w: %w", ErrProtocol, err)
			n.logClosed(pc, slog.LevelWarn, err)
			if pc.outbound && pc.hsErr == nil && pc.state.Load() == stateHandshake {
				pc.hsErr = err // AddRoute says why
			}
			pc.fail(err)
			return gnet.Close
		}
		if !ok {
			return gnet.None
		}
		batch.frames++
		batch.bytes += uint64(size)
		if pc.sess != nil {
			if err := pc.sess.Open(&f); err != nil {
				n.stats.tampered.Add(1)
				return n.violation(pc, err)
			}
		}
		before := len(w.B)
		action := n.frame(pc, &f, w)
		_, _ = c.Discard(size)
		if len(w.B) != before {
			batch.answers++ // one answer per frame
		}
		if action != gnet.None {
			return action
		}
		if hw > 0 && len(w.B) != before {
			held += len(w.B) - before + seal // one answer per frame
			pc.unsent.Store(int64(held))
		}
	}
}

// frame handles one frame. Loop.
func (n *Node) frame(pc *peerConn, f *codec.Frame, w *bytebufferpool.ByteBuffer) gnet.Action {
	if pc.state.Load() == stateHandshake {
		if f.Kind == codec.KindSecure && pc.sess != nil {
			return n.violation(pc, errors.New("secure message after the Noise handshake"))
		}
		if f.Kind == codec.KindSecure || (n.cfg.identity != nil && pc.sess == nil) {
			return n.secureFrame(pc, f, w)
		}
		return n.handshake(pc, f, w)
	}
	if pc.short {
		if err := pc.shortFrame(f.Kind); err != nil {
			return n.violation(pc, err)
		}
	}
	switch f.Kind {
	case codec.KindRequest, codec.KindNotice:
		n.handle(pc, f, nil, w)
	case codec.KindResponse:
		if !pc.complete(f.ID, f.Payload, nil) {
			n.stats.unknownReplies.Add(1)
		} else {
			pc.answered = true
		}
		return n.afterAnswer(pc)
	case codec.KindError:
		n.stats.remoteErrors.Add(1)
		if !pc.complete(f.ID, nil, proto.ParseError(pc.peer, f.Payload)) {
			n.stats.unknownReplies.Add(1)
		} else {
			pc.answered = true
		}
		return n.afterAnswer(pc)
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
		pc.goawayRecv.Store(true)
		pc.setDown(ReasonGoaway)
		n.retire(pc)
	case codec.KindGossip:
		return n.gossip(pc, f, w)
	case codec.KindPrune, codec.KindIHave, codec.KindGraft:
		return n.treeControl(pc, f)
	case codec.KindHello, codec.KindHelloAck, codec.KindSecure:
		return n.violation(pc, fmt.Errorf("%s after handshake", f.Kind))
	case 0:
		return n.violation(pc, errors.New("frame of kind 0"))
	case codec.KindPexRequest, codec.KindPexResponse:
		if ok, action := n.pexFrame(pc, f, w); ok {
			return action
		}
		fallthrough // discovery off: an unknown kind
	default:
		n.stats.unknownKinds.Add(1)
		n.log.Debug("unknown frame kind", "remote", pc.remote(), "kind", f.Kind.String())
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
	if pc.outbound {
		if k != codec.KindResponse && k != codec.KindError {
			return fmt.Errorf("%s on a short-mode link, want the answer", k)
		}
		return nil
	}
	if pc.shortServed {
		return fmt.Errorf("%s after the one message of a short-mode link", k)
	}
	pc.shortServed = true
	return nil
}

// afterAnswer runs after a response: short links close, draining links may
// be done.
func (n *Node) afterAnswer(pc *peerConn) gnet.Action {
	if pc.short && pc.outbound {
		return gnet.Close
	}
	if pc.state.Load() == stateDraining {
		n.finishDrain(pc)
	}
	return gnet.None
}

func (n *Node) violation(pc *peerConn, err error) gnet.Action {
	n.stats.protocolErrors.Add(1)
	pc.setDown(ReasonProtocol)
	if pc.outbound && pc.hsErr == nil && pc.state.Load() == stateHandshake {
		pc.hsErr = fmt.Errorf("%w: %w", ErrHandshake, err) // the dialer says why
	}
	err = fmt.Errorf("%w: %w", ErrProtocol, err)
	n.logClosed(pc, slog.LevelWarn, err)
	pc.fail(err)
	return gnet.Close
}

// logClosed logs, within the rate limit, a link closed because of what the
// peer did: a refusal if the node accepted it and its handshake had not
// finished. Protocol violations are Warn. Any goroutine.
func (n *Node) logClosed(pc *peerConn, level slog.Level, err error) {
	if !pc.outbound && pc.state.Load() == stateHandshake {
		n.refused(level, pc.remote(), err)
	} else if n.logRemote(level) {
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
	if pc.state.Load() != stateHandshake {
		return pc.peer.String()
	}
	if pc.remoteAddr != "" {
		return pc.remoteAddr
	}
	return "?"
}

// connClosed runs in OnClose: the socket is gone. Loop.
func (n *Node) connClosed(pc *peerConn, err error) {
	prev := pc.state.Swap(stateClosed)
	if _, ok := n.conns.LoadAndDelete(pc); ok {
		n.stats.conns.Add(-1)
	}
	if prev == stateHandshake {
		n.handshakeDone(pc)
	} else if prev != stateClosed {
		n.countReady(pc, -1)
	}
	cause := ErrConnLost
	if n.state.Load() != nodeRunning {
		cause = ErrClosed
	}
	if err != nil {
		pc.fail(fmt.Errorf("%w: %v", cause, err))
	} else {
		pc.fail(cause)
	}
	if out := pc.takeOut(); out != nil {
		n.outPool.Put(out)
	}
	n.unpace(pc)
	if prev == stateHandshake && pc.outbound {
		if pc.hsErr == nil {
			pc.hsErr = silentClose(n.cfg.identity != nil && pc.sess == nil, err)
		}
		close(pc.ready)
	}
	if pc.entry != nil {
		n.detach(pc)
		wait := n.backoff(0)
		if w, parked := n.parkRetired(pc); parked {
			wait = w
		}
		n.maybeRedial(pc.entry, wait)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		n.log.Debug("connection closed", "remote", pc.remote(), "err", err)
	}
}
