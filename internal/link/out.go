// Package link is the outbound half of one peer link: the queue other
// goroutines send on, who may write the socket and when, the outbound
// high-water mark, sealing on a secure link, the futures of the requests
// in flight, and the link's lifecycle word (State). The engine embeds an
// Out by value in each link and drives it from its event loop; Out never
// blocks, starts no goroutine, and calls the gnet conn for Wake, Close
// and its socket's Fd from any goroutine (gnet allows those off the loop)
// and for Write and OutboundBuffered from the loop only.
package link

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"
	"github.com/valyala/bytebufferpool"
	"golang.org/x/sys/unix"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/internal/pending"
	"github.com/antnet-p2p/antnet/secure"
)

// Env is what the links of one node share: their limits, the pool of
// their queues, the errors they return and the totals they add to. Set
// before the first link; only the totals change afterwards.
type Env struct {
	HighWater   int  // bytes a link may hold for its peer, 0: no mark
	DropSlow    bool // a frame refused by the mark closes the link (the engine does, on ErrSlowPeer)
	MaxInFlight int  // requests in flight per link, 0: uncapped
	MaxFrame    int  // the largest frame, header included
	Overhead    int  // what sealing adds to a frame: 0 on a plain node

	// The sentinels the link's errors wrap: a closed node's failed wake,
	// the in-flight cap, the high-water mark.
	ErrClosed, ErrBusy, ErrSlowPeer error

	Pool bytebufferpool.Pool // the queues

	Totals
}

// Totals are the node's figures the links add to: atomics, no lock.
type Totals struct {
	InFlight  atomic.Int64  // requests sent and not yet answered
	FramesOut atomic.Uint64 // frames queued or written
	BytesOut  atomic.Uint64 // bytes written to sockets
	Dropped   atomic.Uint64 // frames refused by the high-water mark
}

// CheckSize refuses a payload whose frame, sealed if the node's links
// are, would exceed the max frame size (the peer would close the link on
// it): a *codec.SizeError. No allocation when it fits.
func (e *Env) CheckSize(payload int) error {
	if size := codec.HeaderSize + payload + e.Overhead; size > e.MaxFrame {
		return &codec.SizeError{Size: uint64(size), Max: e.MaxFrame}
	}
	return nil
}

// Secure is a secure link's Noise state: the handshake in progress, which
// the engine's handshake drives on the loop, and the session that seals
// and opens frames once it ends. Senders read Session under Out's lock,
// once SealBatch has set Out to seal what they queue.
type Secure struct {
	Handshake *secure.Handshake
	Session   *secure.Session
}

// Out is the outbound half of a link. Fields marked "loop" are touched only
// on the link's event loop; outbound and short are set before the link is
// published; mu guards the rest but the atomics. The zero
// Out is a plain inbound link with nothing queued.
type Out struct {
	mu       sync.Mutex
	c        gnet.Conn                  // set by SetConn (OnOpen), before the link is published
	sec      *Secure                    // a secure node's links; nil on a plain node
	pending  map[uint64]*pending.Future // nil until a request goes out, and again when ReleaseIdle finds it empty
	out      *bytebufferpool.ByteBuffer // frames queued by other goroutines; sealed once sealing is set
	closeErr *error                     // non-nil once the link failed (the engine's OnClose fails it before gnet closes the socket)

	queued    atomic.Int64  // bytes in out, as they will be sent (sealed); changed under mu
	unsent    atomic.Int64  // written by the loop: bytes in gnet's outbound buffer plus the batch being written
	framesOut atomic.Uint64 // frames queued and answers the loop wrote; a request's id is its frame's count
	bytesOut  atomic.Uint64 // bytes written on the link
	inflight  atomic.Int32  // requests sent and not yet answered

	// State is the link's lifecycle word.
	State State

	woken    bool  // a wake (or the loop's dirty list) will write the queue
	loopBusy bool  // the loop is serving the link or writing to it: others queue
	backlog  bool  // gnet's outbound buffer held bytes after the loop's last write: others queue
	sealing  bool  // hello and hello-ack are out on a secure link: senders seal as they queue
	crowd    uint8 // requests left before a send writes directly again (see alone)
	answered bool  // loop: the batch being served completed a caller's request
	outbound bool  // this node dialed the link
	short    bool  // a short-mode link: one message each way
}

// Init sets what kind of link o is: dialed or accepted, and secure (a
// secure node's link, with its Noise state). Before the link is published.
func (o *Out) Init(outbound, secured bool) {
	o.outbound = outbound
	if secured {
		o.sec = new(Secure)
	}
}

// SetShort makes o a short-mode link (or not): never written directly,
// and an accepted one closes once its answer is out. Loop, before the link
// is ready.
func (o *Out) SetShort(short bool) { o.short = short }

// Outbound reports whether this node dialed the link.
func (o *Out) Outbound() bool { return o.outbound }

// Short reports whether the link is a short-mode one.
func (o *Out) Short() bool { return o.short }

// Secure returns the link's Noise state, nil on a plain node.
func (o *Out) Secure() *Secure { return o.sec }

// Session is the link's Noise session, nil on a plain link or before the
// Noise handshake ends. Loop.
func (o *Out) Session() *secure.Session {
	if o.sec == nil {
		return nil
	}
	return o.sec.Session
}

// NoisePending reports whether o is a secure link whose Noise handshake has
// not ended. Loop.
func (o *Out) NoisePending() bool { return o.sec != nil && o.sec.Session == nil }

// InFlight returns the requests sent on the link and not yet answered.
func (o *Out) InFlight() int { return int(o.inflight.Load()) }

// FramesOut returns the frames queued or written on the link.
func (o *Out) FramesOut() uint64 { return o.framesOut.Load() }

// BytesOut returns the bytes written on the link.
func (o *Out) BytesOut() uint64 { return o.bytesOut.Load() }

// Queued returns the bytes queued by other goroutines, as they will be
// sent. Any goroutine.
func (o *Out) Queued() int64 { return o.queued.Load() }

// SetUnsent records what the loop holds for the peer: gnet's outbound
// buffer plus the batch being built. Loop.
func (o *Out) SetUnsent(n int) { o.unsent.Store(int64(n)) }

// Held returns the bytes the node holds for the peer: the queue's and the
// loop's. Any goroutine.
func (o *Out) Held() int64 { return o.unsent.Load() + o.queued.Load() }

// CountSent adds to the link's own figures (not the node's totals) frames
// and bytes the loop sent without the queue: the answers of a batch, the
// hello OnOpen returns. Loop.
func (o *Out) CountSent(frames, bytes uint64) {
	if frames != 0 {
		o.framesOut.Add(frames)
	}
	if bytes != 0 {
		o.bytesOut.Add(bytes)
	}
}

// SetConn publishes the gnet conn. Loop, in OnOpen.
func (o *Out) SetConn(c gnet.Conn) {
	o.mu.Lock()
	o.c = c
	o.mu.Unlock()
}

// Conn returns the gnet conn, nil before it opened. Any goroutine; off
// the conn's loop call only what gnet allows there (Wake, Close, Fd).
func (o *Out) Conn() gnet.Conn {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.c
}

// Close closes the socket from any goroutine; a no-op before it opened.
func (o *Out) Close() {
	if c := o.Conn(); c != nil {
		_ = c.Close()
	}
}

// Send queues one frame for peer from any goroutine and wakes the event
// loop if the queue was empty; an idle link's request is written to the
// socket directly (see flushLocked). With f non-nil the frame is a request
// whose answer completes f; Send assigns its id. It refuses a frame past
// the high-water mark (env.ErrSlowPeer), a request past the in-flight cap
// (env.ErrBusy) and anything on a failed link (its error). One copy of the
// payload (sealed on a secure link), no allocation but the queue's first
// pending map.
func (o *Out) Send(env *Env, peer fmt.Stringer, kind codec.Kind, flags, ttl uint8, id uint64, payload []byte, f *pending.Future) (uint64, error) {
	o.mu.Lock()
	if o.closeErr != nil {
		err := *o.closeErr
		o.mu.Unlock()
		return 0, err
	}
	if err := env.CheckSize(len(payload)); err != nil {
		o.mu.Unlock()
		return 0, err
	}
	size := codec.HeaderSize + len(payload) + env.Overhead
	if err := o.roomFor(env, peer, size); err != nil {
		o.mu.Unlock()
		return 0, err
	}
	if f != nil {
		if max := env.MaxInFlight; max > 0 && int(o.inflight.Load()) >= max {
			o.mu.Unlock()
			return 0, fmt.Errorf("%w: %d requests in flight to %s", env.ErrBusy, max, peer)
		}
	}
	count := o.framesOut.Add(1)
	if f != nil {
		id = count // unique on the link and never 0: the frame count only grows
	}
	out := o.outBuf(env)
	if o.sealing {
		// Sealed here, in the sender's goroutine, off the event loop; the
		// queue's order is the nonces' order.
		var err error
		if out.B, err = o.sec.Session.AppendSealed(out.B, kind, flags, ttl, id, payload); err != nil {
			o.framesOut.Add(^uint64(0)) // not queued after all
			o.mu.Unlock()
			return 0, err
		}
	} else {
		out.B = codec.AppendHeader(out.B, kind, flags, ttl, id, len(payload))
		out.B = append(out.B, payload...)
	}
	if f != nil {
		if o.pending == nil {
			o.pending = make(map[uint64]*pending.Future) // made for the first request; ReleaseIdle drops it while empty
		}
		o.pending[id] = f
		o.inflight.Add(1)
		env.InFlight.Add(1)
	}
	env.FramesOut.Add(1)
	o.queued.Add(int64(size))
	if kind == codec.KindResponse || kind == codec.KindError {
		o.MarkAnswered() // under mu: the loop sees the mark and the queued answer together
	}
	c := o.flushLocked(env, f != nil && o.alone())
	o.mu.Unlock()
	if c != nil {
		if err := c.Wake(nil); err != nil {
			if f != nil && !o.Cancel(env, id) {
				<-f.Done // Fail answered it meanwhile: take the signal, the future goes back to the pool
			}
			return 0, env.ErrClosed
		}
	}
	return id, nil
}

// Write queues one already-encoded frame for peer and wakes the loop. Any
// goroutine. It refuses a frame past the high-water mark (env.ErrSlowPeer)
// and anything on a failed link (its error); it checks no size and no
// in-flight cap.
func (o *Out) Write(env *Env, peer fmt.Stringer, frame []byte) error {
	o.mu.Lock()
	if err := o.queueFrameLocked(env, peer, frame); err != nil {
		return err // queueFrameLocked unlocked mu
	}
	c := o.wakeLocked()
	o.mu.Unlock()
	if c != nil && c.Wake(nil) != nil {
		return env.ErrClosed
	}
	return nil
}

// WriteOnLoop is Write from the link's own event loop: the frame is queued
// without a wake, and list reports whether the caller must put the link on
// its loop's dirty list (FlushOnLoop writes it; else a wake or the list is
// due anyway). Loop (the link's own), past the Noise handshake.
func (o *Out) WriteOnLoop(env *Env, peer fmt.Stringer, frame []byte) (list bool, err error) {
	o.mu.Lock()
	if err := o.queueFrameLocked(env, peer, frame); err != nil {
		return false, err // queueFrameLocked unlocked mu
	}
	list = !o.woken && o.c != nil
	if list {
		o.woken = true // others queue behind, as behind a wake
	}
	o.mu.Unlock()
	return list, nil
}

// queueFrameLocked appends one encoded frame to the queue, sealed on a
// secure link, if the link is open and has room for it. Under mu; on an
// error it unlocks mu.
func (o *Out) queueFrameLocked(env *Env, peer fmt.Stringer, frame []byte) error {
	if o.closeErr != nil {
		err := *o.closeErr
		o.mu.Unlock()
		return err
	}
	size := len(frame) + env.Overhead
	if err := o.roomFor(env, peer, size); err != nil {
		o.mu.Unlock()
		return err
	}
	out := o.outBuf(env)
	if o.sealing {
		var err error
		if out.B, err = o.sec.Session.SealFrames(out.B, frame); err != nil {
			o.mu.Unlock()
			return err
		}
	} else {
		out.B = append(out.B, frame...)
	}
	env.FramesOut.Add(1)
	o.framesOut.Add(1)
	o.queued.Add(int64(size))
	return nil
}

// FlushOnLoop writes what WriteOnLoop queued, sealed on a secure link (into
// sealed, which the caller lends), with gnet's Write. An error is a seal's:
// nothing was written. Loop (the link's own).
func (o *Out) FlushOnLoop(env *Env, sealed *bytebufferpool.ByteBuffer) error {
	if o.NoisePending() {
		return nil // queued until the session exists, as in OnTraffic
	}
	o.mu.Lock()
	if o.closeErr != nil { // OnClose took the queue
		o.mu.Unlock()
		return nil
	}
	o.loopBusy = true
	o.mu.Unlock()
	var b []byte
	var out *bytebufferpool.ByteBuffer
	var err error
	if o.Session() != nil {
		var none bytebufferpool.ByteBuffer
		_, err = o.SealBatch(env, &none, sealed) // the queue, sealed in wire order
		b = sealed.B
	} else if out = o.TakeOut(); out != nil {
		b = out.B
	}
	if len(b) == 0 {
		if out != nil {
			env.Pool.Put(out)
		}
		o.loopEnd(o.backlog)
		return err
	}
	o.CountWrite(env, len(b))
	_, _ = o.c.Write(b)
	if out != nil {
		env.Pool.Put(out)
	}
	o.LoopEnd(o.c.OutboundBuffered())
	return nil
}

// roomFor applies the outbound high-water mark to a frame of n bytes (as
// sent): what the node holds for the peer (the queue, the batch its loop
// is writing, and what the socket has not taken) plus n must stay within
// it. The loop's count is refreshed after every write, never lower than the
// truth. Without DropSlow a refusal wakes the loop, so that a peer that
// resumed reading is noticed. Under mu.
func (o *Out) roomFor(env *Env, peer fmt.Stringer, n int) error {
	hw := env.HighWater
	if hw <= 0 {
		return nil
	}
	held := o.unsent.Load() + o.queued.Load()
	if held+int64(n) <= int64(hw) {
		return nil
	}
	env.Dropped.Add(1)
	if !env.DropSlow {
		if c := o.wakeLocked(); c != nil {
			_ = c.Wake(nil)
		}
	}
	return fmt.Errorf("%w: %d bytes held for %s, mark %d", env.ErrSlowPeer, held, peer, hw)
}

// outBuf returns the queue, creating it. Under mu.
func (o *Out) outBuf(env *Env) *bytebufferpool.ByteBuffer {
	if o.out == nil {
		o.out = env.Pool.Get()
	}
	return o.out
}

// wakeLocked returns the conn to wake, or nil if a wake is already pending
// or the socket is not open yet (OnOpen sends the queue). Under mu.
func (o *Out) wakeLocked() gnet.Conn {
	if o.woken || o.c == nil {
		return nil
	}
	o.woken = true
	return o.c
}

// DirectMax is the largest queue a send writes directly from the calling
// goroutine (flushLocked); a larger one waits for the loop, so that nobody
// holds mu through a long copy into the socket.
const DirectMax = 64 << 10

// flushLocked sends the queue after a request. When the link is idle
// (alone: no request in flight but the caller's own, see alone; plain, or
// secure with a sealed queue, which is in nonce order; past its handshake,
// not short, its loop neither serving nor writing it, gnet holding none of
// its bytes) it writes the queue to the socket from the calling goroutine:
// no wake of the loop, no hop to the loop's thread. A busy link keeps
// queueing, so that concurrent callers share the loop's one write per
// batch; so do other frames (answers from workers, notices, broadcasts),
// which no caller waits on. This is safe because the loop writes the link
// only while loopBusy (set under mu) or, after a write the socket did not
// take whole, while backlog; and gnet closes the socket only after OnClose
// has failed the link under mu. What the socket does not take stays
// queued for the loop. It returns the conn to wake, as wakeLocked does, or
// nil. Under mu.
func (o *Out) flushLocked(env *Env, alone bool) gnet.Conn {
	if o.woken || o.c == nil {
		return nil
	}
	if alone && !o.loopBusy && !o.backlog && !o.short && (o.sec == nil || o.sealing) &&
		o.closeErr == nil && len(o.out.B) <= DirectMax && o.State.Load() != Handshake {
		n, _ := unix.Write(o.c.Fd(), o.out.B)
		if n > 0 {
			o.queued.Add(-int64(n))
			o.bytesOut.Add(uint64(n))
			env.BytesOut.Add(uint64(n))
			if n == len(o.out.B) {
				env.Pool.Put(o.out)
				o.out = nil
				return nil
			}
			o.out.B = o.out.B[:copy(o.out.B, o.out.B[n:])]
		}
	}
	return o.wakeLocked()
}

// CrowdMemory is how many requests a link keeps queueing for its loop
// after it last saw two in flight at once.
const CrowdMemory = 64

// alone reports whether a request being sent is the link's only one and
// has been for a while: none in flight but its own, and none crowded in
// CrowdMemory requests before. Concurrent callers are better served by
// sharing the loop's write than by queueing on mu one syscall after
// another. Under mu.
func (o *Out) alone() bool {
	if o.inflight.Load() > 1 {
		o.crowd = CrowdMemory
		return false
	}
	if o.crowd > 0 {
		o.crowd--
		return false
	}
	return true
}

// LoopStart marks the loop as serving the link: writes from other
// goroutines queue until LoopEnd. Loop.
func (o *Out) LoopStart() {
	o.mu.Lock()
	o.loopBusy = true
	o.mu.Unlock()
}

// LoopEnd ends LoopStart once the loop's write is done, recording the
// unsent bytes gnet kept: while there are any, others queue. Loop.
func (o *Out) LoopEnd(unsent int) {
	o.unsent.Store(int64(unsent))
	o.loopEnd(unsent > 0)
}

// loopEnd ends LoopStart; backlog says gnet kept some of the write.
func (o *Out) loopEnd(backlog bool) {
	o.mu.Lock()
	o.loopBusy = false
	o.backlog = backlog
	o.mu.Unlock()
}

// CountWrite counts n bytes the loop is about to write to the socket.
func (o *Out) CountWrite(env *Env, n int) {
	env.BytesOut.Add(uint64(n))
	o.bytesOut.Add(uint64(n))
}

// MarkAnswered marks an accepted short link's answer as written or queued:
// the link closes once nothing is left to flush.
func (o *Out) MarkAnswered() {
	if o.short && !o.outbound {
		o.State.Mark(FlagCloseAfterReply)
	}
}

// OutEmpty reports whether no frame is queued.
func (o *Out) OutEmpty() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.out == nil || len(o.out.B) == 0
}

// TakeOut returns the queued frames, or nil, for the caller to give back to
// env.Pool; their bytes move from the queue's count to the loop's. Loop.
func (o *Out) TakeOut() *bytebufferpool.ByteBuffer {
	o.mu.Lock()
	out := o.takeOutLocked()
	o.mu.Unlock()
	return out
}

// takeOutLocked is TakeOut under mu.
func (o *Out) takeOutLocked() *bytebufferpool.ByteBuffer {
	out := o.out
	o.out = nil
	o.woken = false
	o.unsent.Add(o.queued.Swap(0))
	return out
}

// AppendOut appends the queued frames to w and empties the queue. Loop.
func (o *Out) AppendOut(env *Env, w *bytebufferpool.ByteBuffer) {
	if out := o.TakeOut(); out != nil {
		w.B = append(w.B, out.B...)
		env.Pool.Put(out)
	}
}

// Prepend puts b ahead of the queue (what an accepted socket's acceptor
// already owes the peer), with one copy. Before the link is on a loop.
func (o *Out) Prepend(env *Env, b []byte) {
	o.mu.Lock()
	q := env.Pool.Get()
	q.B = append(q.B[:0], b...)
	if o.out != nil {
		q.B = append(q.B, o.out.B...)
		env.Pool.Put(o.out)
	}
	o.out = q
	o.queued.Store(int64(len(q.B)))
	o.mu.Unlock()
}

// SealBatch returns, in sealed, what the loop writes on a secure link: the
// queue and w's frames in wire order. Until hello and hello-ack are out
// (the State is Handshake) the queue is in the clear and goes after w;
// from then on senders seal as they queue, so the queue goes first and w
// is sealed after. A seal's error empties sealed. Loop, with a Session.
func (o *Out) SealBatch(env *Env, w, sealed *bytebufferpool.ByteBuffer) (*bytebufferpool.ByteBuffer, error) {
	sess := o.sec.Session
	sealed.B = sealed.B[:0]
	var err error
	o.mu.Lock()
	out := o.takeOutLocked()
	if !o.sealing {
		sealed.B, err = sess.SealFrames(sealed.B, w.B)
		if out != nil && err == nil {
			sealed.B, err = sess.SealFrames(sealed.B, out.B)
		}
		if o.State.Load() != Handshake {
			// Hello and hello-ack are out: from now on the queue may go
			// ahead of the loop's answers. (A goaway queued as the link
			// attaches must follow the hello-ack.)
			o.sealing = true
		}
	} else if out != nil {
		// w's frames go after the queue, in the queue's buffer, which the
		// loop keeps in place of its own (the pool gets that): the queue
		// is not copied.
		out.B, err = sess.SealFrames(out.B, w.B)
		sealed.B, out.B = out.B, sealed.B[:0]
	} else {
		sealed.B, err = sess.SealFrames(sealed.B, w.B)
	}
	o.mu.Unlock()
	if out != nil {
		env.Pool.Put(out)
	}
	if err != nil {
		sealed.B = sealed.B[:0]
	}
	return sealed, err
}

// Complete hands an answer to the request id. It reports false for an id
// that has no waiter (a late answer after a timeout, or a peer's mistake);
// true marks the loop's batch as having answered a caller (TakeAnswered).
// Loop.
func (o *Out) Complete(env *Env, id uint64, reply []byte, err error) bool {
	o.mu.Lock()
	f := o.pending[id]
	if f != nil {
		delete(o.pending, id)
		o.inflight.Add(-1)
		env.InFlight.Add(-1)
	}
	o.mu.Unlock()
	if f == nil {
		return false
	}
	f.Complete(reply, err)
	o.answered = true
	return true
}

// TakeAnswered reports whether the batch being served completed a caller's
// request since the last call, and clears it. Loop.
func (o *Out) TakeAnswered() bool {
	a := o.answered
	o.answered = false
	return a
}

// Cancel withdraws request id; false means an answer is already on its way
// to the future.
func (o *Out) Cancel(env *Env, id uint64) bool {
	o.mu.Lock()
	_, ok := o.pending[id]
	if ok {
		delete(o.pending, id)
		o.inflight.Add(-1)
		env.InFlight.Add(-1)
	}
	o.mu.Unlock()
	return ok
}

// Fail closes the link's send side with err and fails every request in
// flight with it; later sends return err. Safe to call more than once: the
// first error stays.
func (o *Out) Fail(env *Env, err error) {
	o.mu.Lock()
	if o.closeErr != nil {
		o.mu.Unlock()
		return
	}
	o.closeErr = new(error) // only the first call allocates
	*o.closeErr = err
	waiting := o.pending
	o.pending = nil
	env.InFlight.Add(-int64(len(waiting)))
	o.inflight.Store(0)
	o.mu.Unlock()
	for _, f := range waiting {
		f.Complete(nil, err)
	}
}

// Err returns the error the link failed with, nil while it has not.
func (o *Out) Err() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closeErr == nil {
		return nil
	}
	return *o.closeErr
}

// Sealer returns the session senders seal with, nil until hello and
// hello-ack are out on a secure link (and always on a plain one). Any
// goroutine.
func (o *Out) Sealer() *secure.Session {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.sealing {
		return nil
	}
	return o.sec.Session
}

// ReleaseIdle drops what an idle link does not need: an empty pending map,
// and the idle ciphers of a sealing link's session (secure.Session's
// ReleaseIdle). Any goroutine.
func (o *Out) ReleaseIdle() {
	o.mu.Lock()
	var s *secure.Session
	if o.sealing {
		s = o.sec.Session
	}
	if len(o.pending) == 0 {
		o.pending = nil
	}
	o.mu.Unlock()
	if s != nil {
		s.ReleaseIdle()
	}
}
