package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/antnet-p2p/antnet/internal/tcpconnect"
)

// Dialing. Every dial is bounded by WithDialTimeout and leaves nothing
// behind when it fails or is given up. Callers that may block (AddRoute,
// short-mode Send, secure short Dispatch; a plain one has shortDial) use
// dial in their own goroutine; the ticker, DispatchAll and broadcasts
// start a non-blocking dialAsync and poll it. The socket is enrolled in the
// caller's goroutine, never on a loop. Close cancels blocking dials and
// aborts the others.

// dial connects to pc.peer.Addr in the caller's goroutine, bounded by the
// dial timeout, ctx and the node's closing, and enrolls the socket with pc
// as its context. Errors wrap ErrDial (plus ErrTimeout for a timeout), or
// ErrClosed. Not on an event loop.
func (n *Node) dial(ctx context.Context, pc *peerConn) error {
	if ctx.Done() == nil {
		ctx = n.dials.ctx
	} else {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(n.dials.ctx, cancel)()
	}
	c, err := n.dials.dialer.DialContext(ctx, "tcp", pc.peer.Addr)
	if err != nil {
		return n.dialError(pc, err)
	}
	if err := n.enroll(c, pc); err != nil {
		return n.dialError(pc, err)
	}
	return nil
}

// dialError wraps a dial failure: ErrClosed when the node is closing,
// otherwise ErrDial, with ErrTimeout for a timeout, and the cause.
func (n *Node) dialError(pc *peerConn, err error) error {
	switch {
	case errors.Is(err, ErrClosed) || errors.Is(err, ErrDial):
		return err
	case n.life.state.Load() != nodeRunning:
		return fmt.Errorf("%w: dial %s: %w", ErrClosed, pc.peer, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%w: %s: %w: %w", ErrDial, pc.peer, ErrTimeout, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrDial, pc.peer, err)
}

// dialAttempt is a non-blocking connect in progress for pc. Start it with
// dialAsync, then call poll until it reports done; abort gives it up. On
// success the connection is enrolled on the reactor with pc as context.
type dialAttempt struct {
	n  *Node
	pc *peerConn
	at *tcpconnect.Attempt

	mu   sync.Mutex // held across a poll's enroll: one outcome
	done bool
	err  error // the outcome, once done
}

// dialAsync starts connecting to pc.peer.Addr without waiting. The node
// tracks the attempt until it finishes, so Close can abort it. Errors wrap
// ErrDial, or are ErrClosed. Any goroutine; resolving a host name may block
// (addresses given as IPs do not).
func (n *Node) dialAsync(pc *peerConn) (*dialAttempt, error) {
	raddr, err := net.ResolveTCPAddr("tcp", pc.peer.Addr)
	if err != nil {
		return nil, n.dialError(pc, err)
	}
	at, err := tcpconnect.Start(raddr, n.cfg.dialTimeout)
	if err != nil {
		return nil, n.dialError(pc, err)
	}
	a := &dialAttempt{n: n, pc: pc, at: at}
	n.dials.enrollMu.Lock()
	if n.dials.enrollOff {
		n.dials.enrollMu.Unlock()
		at.Abort()
		return nil, ErrClosed
	}
	n.dials.attempts[a] = struct{}{}
	n.dials.enrollMu.Unlock()
	return a, nil
}

// poll checks the connect without waiting; once done, err is the outcome
// (ErrDial, with ErrTimeout at the dial timeout) and a connected socket is
// enrolled, which waits for a loop: not on an event loop. Safe to call
// again after done.
func (a *dialAttempt) poll() (done bool, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.done {
		return true, a.err
	}
	c, done, err := a.at.Poll()
	if !done {
		return false, nil
	}
	a.n.untrack(a)
	switch {
	case errors.Is(err, tcpconnect.ErrAborted): // abort raced this poll
		err = fmt.Errorf("%w: dial %s given up", ErrClosed, a.pc.peer)
	case err == nil:
		if err = a.n.enroll(c, a.pc); err != nil {
			err = a.n.dialError(a.pc, err)
		}
	default:
		err = a.n.dialError(a.pc, err)
	}
	a.done, a.err = true, err
	return true, err
}

// wait polls until the attempt is done or ctx ends (then it aborts it),
// sleeping in poll(2) between checks. Blocks; not on an event loop.
func (a *dialAttempt) wait(ctx context.Context) error {
	for {
		done, err := a.poll()
		if done {
			return err
		}
		select {
		case <-ctx.Done():
			a.abort()
			return a.n.dialError(a.pc, ctx.Err())
		default:
		}
		a.at.Sleep(10 * time.Millisecond)
	}
}

// abort gives the attempt up and closes its descriptor; a no-op once done.
func (a *dialAttempt) abort() {
	if !a.at.Abort() {
		return
	}
	a.mu.Lock()
	if !a.done {
		a.done, a.err = true, fmt.Errorf("%w: dial %s given up", ErrClosed, a.pc.peer)
	}
	a.mu.Unlock()
	a.n.untrack(a)
}

func (n *Node) untrack(a *dialAttempt) {
	n.dials.enrollMu.Lock()
	delete(n.dials.attempts, a)
	n.dials.enrollMu.Unlock()
}

// dialInBackground completes a in the caller's goroutine if it can at once
// (not on an event loop, connect already done), else leaves it to the
// ticker. On failure the attempt's peerConn is abandoned. Never blocks
// beyond an enroll.
func (n *Node) dialInBackground(a *dialAttempt) {
	if !n.own.isLoop() {
		if done, err := a.poll(); done {
			if err != nil {
				a.pc.abandon(err)
			}
			return
		}
	}
	n.dials.enrollMu.Lock()
	n.dials.orphans = append(n.dials.orphans, a)
	n.dials.enrollMu.Unlock()
}

// pollOrphans advances the background dials. Ticker.
func (n *Node) pollOrphans() (pending bool) {
	n.dials.enrollMu.Lock()
	list := n.dials.orphans
	n.dials.orphans = nil
	n.dials.enrollMu.Unlock()
	var left []*dialAttempt
	for _, a := range list {
		done, err := a.poll()
		switch {
		case !done:
			left = append(left, a)
		case err != nil:
			a.pc.abandon(err)
		}
	}
	if len(left) > 0 {
		n.dials.enrollMu.Lock()
		n.dials.orphans = append(n.dials.orphans, left...)
		n.dials.enrollMu.Unlock()
	}
	return len(left) > 0
}

// dialState is the node's outgoing connects: the dialer and the context
// Close cancels, the enrolls in progress, and the non-blocking connects
// the ticker polls.
type dialState struct {
	ctx    context.Context // cancelled when closing starts: aborts blocking dials
	dialer net.Dialer      // with the dial timeout
	stop   context.CancelFunc

	enrollMu  sync.Mutex
	enrollOff bool                      // closing: nothing enrolls any more
	enrolls   sync.WaitGroup            // EnrollContext calls in progress
	attempts  map[*dialAttempt]struct{} // non-blocking connects in progress
	orphans   []*dialAttempt            // async dials no caller polls: the ticker does
}
