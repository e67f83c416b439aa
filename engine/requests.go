package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/internal/config"
	"github.com/antnet-p2p/antnet/internal/link"
	"github.com/antnet-p2p/antnet/internal/pending"
	"github.com/antnet-p2p/antnet/proto"
)

// Dispatch sends msg to peer as a request and returns its reply. peer is
// name@host:port, host:port, or a name only one route carries. It waits at
// most the request timeout. The reply is the caller's.
func (n *Node) Dispatch(peer string, msg []byte) ([]byte, error) {
	return n.DispatchAppend(context.Background(), peer, msg, nil)
}

// DispatchContext is Dispatch bounded by ctx as well as the request timeout.
func (n *Node) DispatchContext(ctx context.Context, peer string, msg []byte) ([]byte, error) {
	return n.DispatchAppend(ctx, peer, msg, nil)
}

// DispatchAppend is DispatchContext that appends the reply to dst and returns
// the extended slice: with a dst of enough capacity, a persistent-mode
// request allocates nothing.
func (n *Node) DispatchAppend(ctx context.Context, peer string, msg, dst []byte) ([]byte, error) {
	if err := n.checkMayBlock(); err != nil {
		return dst, err
	}
	e, err := n.routes.table.Lookup(peer)
	if err != nil {
		return dst, err
	}
	start := time.Now()
	if n.cfg.Mode == config.Short && n.cfg.Identity == nil {
		return n.shortCall(ctx, e, msg, dst, start) // in this goroutine: shortcall.go
	}
	c := n.queueTo(e, codec.KindRequest, 0, 0, 0, msg)
	if c.err == nil && c.pc.Short() {
		n.dialFailed(&c, n.dial(ctx, c.pc))
	}
	return n.wait(ctx, &c, dst, start, n.cfg.deadline(ctx, start))
}

// Send sends msg to peer as a one-way notice: no reply, no wait for one. In
// short mode it returns once the connection is open and the notice written.
func (n *Node) Send(peer string, msg []byte) error {
	if err := n.checkRunning(); err != nil {
		return err
	}
	e, err := n.routes.table.Lookup(peer)
	if err != nil {
		return err
	}
	if n.cfg.Mode == config.Short {
		if n.own.onLoop() {
			return ErrOnEventLoop
		}
		c := n.queueTo(e, codec.KindNotice, 0, 0, 0, msg)
		if c.err == nil {
			n.dialFailed(&c, n.dial(context.Background(), c.pc))
		}
		return c.err
	}
	pc, err := n.link(e)
	if err != nil {
		return err
	}
	_, err = pc.send(codec.KindNotice, 0, 0, 0, msg, nil)
	return err
}

// Result is one peer's answer in DispatchAll.
type Result struct {
	Reply []byte
	Err   error
}

// DispatchAll sends msg as a request to every peer in the route table at
// once and waits for all answers (bounded by one request timeout). The map is
// keyed by peer ID (name@host:port). No goroutine is started per peer. A
// call refused as a whole (node not running, or made on the event loop:
// ErrOnEventLoop) returns one Result under the key "" holding the error.
func (n *Node) DispatchAll(msg []byte) map[string]Result {
	return n.DispatchAllContext(context.Background(), msg)
}

// DispatchAllContext is DispatchAll bounded by ctx as well.
func (n *Node) DispatchAllContext(ctx context.Context, msg []byte) map[string]Result {
	if err := n.checkMayBlock(); err != nil {
		return map[string]Result{"": {Err: err}}
	}
	entries := n.routes.table.All()
	start := time.Now()
	calls := make([]pendingCall, len(entries))
	for i, e := range entries {
		calls[i] = n.queueTo(e, codec.KindRequest, 0, 0, 0, msg)
		if c := &calls[i]; c.err == nil && c.pc.Short() {
			c.dial, c.err = n.dialAsync(c.pc)
			n.dialFailed(c, c.err)
		}
	}
	deadline := n.cfg.deadline(ctx, start)
	out := make(map[string]Result, len(calls))
	for i := range calls {
		reply, err := n.wait(ctx, &calls[i], nil, start, deadline)
		out[calls[i].peer.String()] = Result{Reply: reply, Err: err}
	}
	return out
}

// pendingCall is a request on its way.
type pendingCall struct {
	peer proto.PeerID
	pc   *peerConn
	f    *pending.Future
	id   uint64
	dial *dialAttempt // short mode, DispatchAll: the connect in progress
	err  error        // failed before it was sent
}

// queueTo queues a frame to e without waiting: for a request, the returned call
// holds the future. In short mode the caller then dials c.pc.
func (n *Node) queueTo(e *routeEntry, kind codec.Kind, flags, ttl uint8, id uint64, msg []byte) pendingCall {
	c := pendingCall{peer: e.ID}
	if n.cfg.Mode == config.Short {
		c.pc = newPeerConn(n, true)
		c.pc.SetShort(true)
		c.pc.setPeer(e.ID, e)
	} else if c.pc, c.err = n.link(e); c.err != nil {
		return c
	}
	if kind == codec.KindRequest {
		c.f = pending.Get()
		n.stats.Requests.Add(1)
	}
	if c.id, c.err = c.pc.send(kind, flags, ttl, id, msg, c.f); c.err != nil {
		if c.f != nil {
			pending.Put(c.f)
			c.f = nil
		}
		c.err = fmt.Errorf("antnet: send to %s: %w", e.ID, c.err)
	}
	return c
}

// dialFailed records a short-mode dial's failure in c: the link is
// abandoned and the request's future released.
func (n *Node) dialFailed(c *pendingCall, err error) {
	if err == nil {
		return
	}
	c.err = err
	c.pc.abandon(err)
	if c.f != nil {
		<-c.f.Done
		pending.Put(c.f)
		c.f = nil
	}
}

// link returns e's live link if it takes requests.
func (n *Node) link(e *routeEntry) (*peerConn, error) {
	l := e.Link()
	if l == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotConnected, e.ID)
	}
	pc := l
	if err := pc.usable(); err != nil {
		return nil, fmt.Errorf("%w: %s", err, e.ID)
	}
	return pc, nil
}

// deadline is when a request started at start must be answered.
func (c *settings) deadline(ctx context.Context, start time.Time) time.Time {
	d := start.Add(c.Timeout)
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		return cd
	}
	return d
}

// wait blocks until c is answered, the deadline passes or ctx ends, and
// appends the reply to dst. A reply's round trip since start goes to the
// request histogram (RequestRTT).
func (n *Node) wait(ctx context.Context, c *pendingCall, dst []byte, start, deadline time.Time) ([]byte, error) {
	if c.err != nil {
		return dst, c.err
	}
	f := c.f
	defer pending.Put(f)
	f.Timer.Reset(time.Until(deadline))
	defer f.Timer.Stop()
	if c.dial != nil {
		if err := c.dial.Wait(ctx); err != nil && c.pc.Cancel(&n.linkEnv, c.id) {
			c.pc.abandon(err)
			return dst, err
		}
	}
	select {
	case <-f.Done:
	case <-f.Timer.C:
		why := ErrTimeout
		if d, ok := ctx.Deadline(); ok && !d.After(deadline) {
			why = context.DeadlineExceeded // the caller's deadline, not ours
		}
		if err := n.giveUp(c, why); err != nil {
			return dst, err
		}
	case <-ctx.Done():
		if err := n.giveUp(c, ctx.Err()); err != nil {
			return dst, err
		}
	}
	if f.Err != nil {
		return dst, f.Err
	}
	n.stats.RTT.Observe(time.Since(start))
	return append(dst, f.Reply...), nil
}

// giveUp withdraws c and returns why; it returns nil when the answer raced
// in, after waiting for the hand-off so the future can be reused.
func (n *Node) giveUp(c *pendingCall, why error) error {
	if !c.pc.Cancel(&n.linkEnv, c.id) {
		<-c.f.Done
		return nil
	}
	err := fmt.Errorf("antnet: request to %s: %w", c.peer, why)
	n.stats.Timeouts.Add(1)
	if c.pc.Short() {
		c.pc.abandon(err)
	} else if c.pc.State.Load() == link.Draining {
		c.pc.finishDrain()
	}
	return err
}

// checkMayBlock refuses calls that would block an event loop or a closed node.
func (n *Node) checkMayBlock() error {
	if err := n.checkRunning(); err != nil {
		return err
	}
	if n.own.onLoop() {
		return ErrOnEventLoop
	}
	return nil
}
