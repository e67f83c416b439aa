package engine

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/antnet-p2p/antnet/route"
)

// Reconnecting. A route added with AddRoute whose link is lost, or whose
// first connect failed, is redialed from the ticker, without a goroutine:
// the dial is a non-blocking connect (dialAsync) polled on later ticks and
// aborted at the dial timeout; the handshake completes on the event loop.
// After each failure the wait doubles, from WithRedialBackoff up to
// WithRedialMaxBackoff, with ±20% jitter. It stops when the route has a
// link on a tick (either side may have dialed; a link that came up and went
// down again between ticks does not count) or the route is deleted.
// Meanwhile requests to the peer fail
// at once with ErrNotConnected.

type redial struct {
	entry   *route.Entry
	attempt int
	due     time.Time
	pc      *peerConn    // the dial in progress, if any
	dial    *dialAttempt // its connect, until the socket is enrolled
	learned bool         // a peer from the address book (discovery.go): one try
}

// redialQueue holds the redials maybeRedial asked for until the ticker
// takes them: a loop that loses a link never waits for redialMu, which the
// ticker holds while it works through the redials.
type redialQueue struct {
	mu  sync.Mutex
	due map[*route.Entry]time.Time
}

// maybeRedial schedules a redial of e, after wait, if it is a static route
// left without a link on a running node; the ticker takes it up within a
// tick. Any goroutine; O(1), never blocks on the redialer.
func (n *Node) maybeRedial(e *route.Entry, wait time.Duration) {
	if n.state.Load() != nodeRunning || e.Link() != nil {
		return
	}
	if _, static := n.staticRoutes.Load(e.ID.Addr); !static || n.table.Get(e.ID.Addr) != e {
		return
	}
	q := &n.redialQ
	q.mu.Lock()
	if q.due == nil {
		q.due = make(map[*route.Entry]time.Time)
	}
	if _, ok := q.due[e]; !ok {
		q.due[e] = time.Now().Add(wait)
	}
	q.mu.Unlock()
}

// takeQueued moves the queued redials into n.redials. Ticker, under
// redialMu.
func (n *Node) takeQueued() {
	q := &n.redialQ
	q.mu.Lock()
	due := q.due
	q.due = nil
	q.mu.Unlock()
	for e, t := range due {
		if _, ok := n.redials[e]; !ok {
			n.redials[e] = &redial{entry: e, due: t}
		}
	}
}

// backoff is the wait before attempt number k (0-based).
func (n *Node) backoff(k int) time.Duration {
	d := n.cfg.redialBase
	for i := 0; i < k && d < n.cfg.redialMax; i++ {
		d *= 2
	}
	return jitter(min(d, n.cfg.redialMax))
}

// jitter returns d ±20%.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// redialDue advances every scheduled redial. Connects that finished are
// enrolled with redialMu released (enrolling waits for a loop, and a loop
// may be waiting on PeerStates). It reports whether a redial is dialing or
// due within quietTickEvery. Ticker.
func (n *Node) redialDue(now time.Time) (pending bool) {
	n.redialMu.Lock()
	n.takeQueued()
	var polls []*redial
	for e, r := range n.redials {
		_, static := n.staticRoutes.Load(e.ID.Addr)
		if !(static || r.learned) || n.table.Get(e.ID.Addr) != e || n.state.Load() != nodeRunning {
			if r.dial != nil {
				r.dial.abort()
			}
			if r.pc != nil {
				r.pc.abandon(ErrClosed)
				n.releaseDial(e, r.pc)
			}
			delete(n.redials, e)
			continue
		}
		if r.pc == nil {
			if l := e.Link(); l != nil {
				delete(n.redials, e) // the peer dialed us
				continue
			}
			if now.Before(r.due) {
				continue
			}
			if !r.learned && n.waitForRoom(e) {
				r.due = now.Add(jitter(n.cfg.redialMax))
				continue
			}
			pc := newPeerConn(n, true)
			pc.peer, pc.entry = e.ID, e
			if n.claimDial(e, pc) != nil {
				continue // AddRoute is dialing it
			}
			n.stats.redials.Add(1)
			a, err := n.dialAsync(pc)
			if err != nil {
				n.releaseDial(e, pc)
				r.retry(n, now)
				continue
			}
			r.pc, r.dial = pc, a
			continue
		}
		if r.dial != nil {
			polls = append(polls, r)
			continue
		}
		select {
		case <-r.pc.ready:
			if r.pc.hsErr != nil {
				r.retry(n, now)
				continue
			}
			if e.Link() == nil {
				// It connected and went down again before this tick: the
				// route still has no link, so go on redialing.
				r.attempt = -1
				r.retry(n, now)
				continue
			}
			n.log.Info("reconnected", "peer", e.ID.String(), "attempts", r.attempt+1)
			n.releaseDial(e, r.pc)
			delete(n.redials, e)
		default:
		}
	}
	soon := now.Add(quietTickEvery)
	for _, r := range n.redials {
		if r.pc != nil || r.due.Before(soon) {
			pending = true
			break
		}
	}
	n.redialMu.Unlock()
	if len(polls) == 0 {
		return pending
	}
	// Only the ticker changes r.dial and r.pc, and removes redials.
	type outcome struct {
		r   *redial
		err error
	}
	var done []outcome
	for _, r := range polls {
		if ok, err := r.dial.poll(); ok {
			done = append(done, outcome{r, err})
		}
	}
	n.redialMu.Lock()
	defer n.redialMu.Unlock()
	for _, o := range done {
		o.r.dial = nil
		if o.err != nil {
			o.r.pc.abandon(o.err)
			o.r.retry(n, now)
		}
	}
	return true
}

func (r *redial) retry(n *Node, now time.Time) {
	if r.learned {
		n.learnedFailed(r, now)
		return
	}
	if r.pc != nil {
		n.releaseDial(r.entry, r.pc)
	}
	r.attempt++
	r.pc, r.dial = nil, nil
	r.due = now.Add(n.backoff(r.attempt))
	n.log.Debug("redial failed", "peer", r.entry.ID.String(), "attempt", r.attempt, "next", r.due.Sub(now))
}
