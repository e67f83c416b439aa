package engine

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/antnet-p2p/antnet/internal/intake"
)

// Dialing. Every dial is bounded by WithDialTimeout and leaves nothing
// behind when it fails or is given up. Callers that may block (AddRoute,
// short-mode Send, secure short Dispatch; a plain one has shortCall) use
// dial in their own goroutine; the ticker, DispatchAll and broadcasts
// start a non-blocking dialAsync and poll it. The socket is enrolled in the
// caller's goroutine, never on a loop. Close cancels blocking dials and
// aborts the others. What tracks them is internal/intake (n.dials); this
// file says how the node enrolls a socket and how its dial errors read.

// dialAttempt is a non-blocking connect in progress for its peerConn (P).
type dialAttempt = intake.Dial[*peerConn]

// openIntake readies n.dials: the dialer (with the dial timeout and the
// connect-first hook), the enroll, and the node's errors.
func (n *Node) openIntake(d net.Dialer) {
	n.dials.Dialer = d
	n.dials.Enroll = n.enrollOnLoop
	n.dials.Wrap = n.dialError
	n.dials.Closed = ErrClosed
	n.dials.Open()
}

// enrollOnLoop hands a connected socket to the reactor: gnet dups its
// descriptor onto a loop, runs OnOpen there with pc (nil: an accepted
// socket) as the conn's context, and closes c. It waits for OnOpen, so it
// must not run on an event loop. Through n.dials.Add only: nothing
// enrolls once closing has started, and Close waits for enrolls in
// progress before it stops the loops.
func (n *Node) enrollOnLoop(c net.Conn, pc *peerConn) error {
	var ctx any
	if pc != nil {
		ctx = pc
	}
	_, err := n.reactor.cli.EnrollContext(c, ctx)
	return err
}

// dial connects to pc.peer.Addr in the caller's goroutine, bounded by the
// dial timeout, ctx and the node's closing, and enrolls the socket with pc
// as its context. Errors wrap ErrDial (plus ErrTimeout for a timeout), or
// ErrClosed. Not on an event loop.
func (n *Node) dial(ctx context.Context, pc *peerConn) error {
	c, err := n.dials.Connect(ctx, pc.peer.Addr)
	if err != nil {
		return n.dialError(pc, err)
	}
	if err := n.dials.Add(c, pc); err != nil {
		return n.dialError(pc, err)
	}
	return nil
}

// dialError wraps a dial failure: ErrClosed when the node is closing or
// the dial was given up, otherwise ErrDial, with ErrTimeout for a
// timeout, and the cause.
func (n *Node) dialError(pc *peerConn, err error) error {
	switch {
	case errors.Is(err, ErrClosed) || errors.Is(err, ErrDial):
		return err
	case errors.Is(err, intake.ErrAborted):
		return fmt.Errorf("%w: dial %s given up", ErrClosed, pc.peer)
	case n.life.state.Load() != nodeRunning:
		return fmt.Errorf("%w: dial %s: %w", ErrClosed, pc.peer, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%w: %s: %w: %w", ErrDial, pc.peer, ErrTimeout, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrDial, pc.peer, err)
}

// dialAsync starts connecting to pc.peer.Addr without waiting (see
// intake.Start). Errors wrap ErrDial, or are ErrClosed.
func (n *Node) dialAsync(pc *peerConn) (*dialAttempt, error) {
	return n.dials.Start(pc.peer.Addr, n.cfg.DialTimeout, pc)
}

// dialInBackground completes a in the caller's goroutine if it can at once
// (not on an event loop, connect already done), else leaves it to the
// ticker (pollOrphans). On failure the attempt's peerConn is abandoned.
// Never blocks beyond an enroll.
func (n *Node) dialInBackground(a *dialAttempt) {
	n.dials.Background(a, !n.own.isLoop(), (*peerConn).abandon)
}

// pollOrphans advances the background dials. Ticker.
func (n *Node) pollOrphans() (pending bool) {
	return n.dials.PollBackground((*peerConn).abandon)
}
