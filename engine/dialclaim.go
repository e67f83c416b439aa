package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/antnet-p2p/antnet/internal/link"
)

// Dial claims. A route has at most one dial in flight (internal/claim):
// whoever finds none claims it (claimDial), the others wait for its
// outcome (awaitDial) or for the route to have a usable link (awaitUsable).

// claimDial makes pc the one dial in flight to e and returns nil, or
// returns the dial holding the claim (a finished holder's is taken over).
// One side dialing a route twice at once could see the two ends keep
// different links, and both retired.
func (rs *routeState) claimDial(e *routeEntry, pc *peerConn) *peerConn {
	h, _ := rs.dialing.Claim(e, pc, (*peerConn).dialDone)
	return h
}

// releaseDial drops pc's claim on e, if it still holds it.
func (rs *routeState) releaseDial(e *routeEntry, pc *peerConn) { rs.dialing.Release(e, pc) }

// dialDone reports whether a dial is over: its handshake ended, or its
// dialer gave up.
func (pc *peerConn) dialDone() bool {
	select {
	case <-pc.dial.ready:
		return true
	default:
		return pc.State.Has(link.FlagAbandoned)
	}
}

// awaitDial waits for another caller's dial to the same route (bounded by
// the dial and handshake timeouts and ctx) and reports its outcome.
func (n *Node) awaitDial(ctx context.Context, other *peerConn) error {
	peer := other.entry.ID
	limit := time.NewTimer(n.cfg.DialTimeout + n.cfg.HandshakeTimeout)
	defer limit.Stop()
	poll := time.NewTicker(tickEvery / 5) // a dial given up before its socket opened closes nothing
	defer poll.Stop()
	for !other.dialDone() {
		select {
		case <-other.dial.ready:
		case <-poll.C:
		case <-limit.C:
			return fmt.Errorf("%w: %s: %w", ErrDial, peer, ErrTimeout)
		case <-ctx.Done():
			return fmt.Errorf("%w: %s: %w", ErrDial, peer, ctx.Err())
		}
	}
	select {
	case <-other.dial.ready:
		if other.dial.err != nil {
			return fmt.Errorf("antnet: connect %s: %w", peer, other.dial.err)
		}
		return nil
	default:
		cause := other.Err()
		switch {
		case cause == nil:
			return fmt.Errorf("%w: %s: the dial in flight failed", ErrDial, peer)
		case errors.Is(cause, ErrDial):
			return fmt.Errorf("antnet: %s: the dial in flight failed: %w", peer, cause)
		}
		return fmt.Errorf("%w: %s: the dial in flight failed: %w", ErrDial, peer, cause)
	}
}

// awaitUsable waits, at most a second (or the handshake timeout if shorter)
// or until ctx ends, for e to route to a usable link: right after our
// handshake a crossed pair may still be settling, its two ends retiring one
// link and attaching the other in an order of their own.
func (n *Node) awaitUsable(ctx context.Context, e *routeEntry) error {
	deadline := time.Now().Add(min(n.cfg.HandshakeTimeout, time.Second))
	for {
		_, err := n.link(e)
		if err == nil || ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(time.Millisecond)
	}
}
