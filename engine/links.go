package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/antnet-p2p/antnet/proto"
	"github.com/antnet-p2p/antnet/route"
)

// Route lifecycle. Every change to which entries the table holds, which
// link an entry routes to, and which routes are static happens under
// n.linkMu, together with queueing the peer event it raises; so an entry is
// never deleted between a handshake finding it and attaching to it, and
// events for one peer leave in the order of the changes. linkMu is held for
// a few map operations only, never across a blocking call or a callback.

// attach offers pc to its entry under linkMu; see route.Prefer. A first
// link raises Up. A link from a restarted peer (another hello nonce)
// replaces the old incarnation's link in the same step, so the route never
// goes without a link, and the old link is closed at once: its requests
// fail with ErrConnLost instead of waiting for keepalive. A restart raises
// Down then Up. A crossed or repeated dial retires the losing link (it
// drains) and raises nothing. A late link from an incarnation already
// replaced is closed. Loop.
func (n *Node) attach(pc *peerConn) {
	if gone, ok := n.goneNonces.Load(pc.entry); ok && gone.(uint64) == pc.peerNonce {
		n.log.Info("closing a late link from a restarted peer's old run", "peer", pc.peer.String())
		pc.fail(fmt.Errorf("%w: %s restarted", ErrConnLost, pc.entry.ID))
		pc.close()
		return
	}
	kept, dropped := n.table.Attach(pc.entry, pc)
	switch {
	case dropped == nil:
		n.tree.LinkUp(pc.entry, pc.trees)
		n.byNonce.Store(pc.peerNonce, pc.entry)
		n.log.Debug("peer up", "peer", pc.peer.String())
		n.queueEvent(PeerEvent{Peer: pc.eventPeer(), Up: true, Outbound: pc.outbound})
	case dropped.Nonce() != pc.peerNonce:
		old := dropped.(*peerConn)
		n.byNonce.CompareAndDelete(old.peerNonce, pc.entry)
		n.byNonce.Store(pc.peerNonce, pc.entry)
		n.goneNonces.Store(pc.entry, old.peerNonce)
		n.tree.LinkUp(pc.entry, pc.trees) // a new run: its tree state starts afresh
		n.stats.restarts.Add(1)
		n.log.Info("peer restarted: its old link is closed", "peer", pc.peer.String())
		old.setDown(ReasonRestarted)
		n.queueEvent(PeerEvent{Peer: old.eventPeer(), Reason: ReasonRestarted})
		n.queueEvent(PeerEvent{Peer: pc.eventPeer(), Up: true, Outbound: pc.outbound})
		old.fail(fmt.Errorf("%w: %s restarted", ErrConnLost, pc.entry.ID))
		old.close()
	default:
		d := dropped.(*peerConn)
		n.stats.duplicateLinks.Add(1)
		n.log.Debug("duplicate link", "peer", pc.peer.String(), "kept_outbound", kept.Outbound())
		n.startDrain(d)
		n.finishDrain(d)
	}
	n.discLinked(pc)
}

// detach takes pc off its entry if it is still the entry's link: that
// raises Down, and an entry only an inbound hello created goes with it.
// Any goroutine; not under linkMu.
func (n *Node) detach(pc *peerConn) {
	n.linkMu.Lock()
	if n.table.Detach(pc.entry, pc) {
		n.tree.LinkDown(pc.entry)
		n.byNonce.CompareAndDelete(pc.peerNonce, pc.entry)
		why := n.downReason(pc)
		n.log.Debug("peer down", "peer", pc.peer.String(), "why", why.String())
		n.queueEvent(PeerEvent{Peer: pc.eventPeer(), Reason: why})
		n.discUnlinked(pc)
		n.unrouteIfLearned(pc)
	}
	n.linkMu.Unlock()
	n.deliverEvents()
}

// eventPeer is the peer a PeerEvent about pc names: its route's ID, with
// the link's key on a secure node.
func (pc *peerConn) eventPeer() proto.PeerID {
	id := pc.entry.ID
	id.Key = pc.peerKey
	return id
}

// entryFor returns the entry an inbound persistent hello joins: the entry
// whose link already carries the peer's nonce (the same node reached under
// another spelling of its address), else the entry at its advertised
// address, created if need be. Loop, under linkMu.
func (n *Node) entryFor(h proto.Hello) (*route.Entry, error) {
	if v, ok := n.byNonce.Load(h.Nonce); ok {
		e := v.(*route.Entry)
		if l := e.Link(); l != nil && l.Nonce() == h.Nonce && e.ID.Name == h.ID.Name && n.table.Get(e.ID.Addr) == e {
			return e, nil
		}
	}
	return n.table.Add(h.ID)
}

// queueEvent queues a peer event for delivery. Under linkMu.
func (n *Node) queueEvent(ev PeerEvent) {
	if n.cfg.events == nil {
		return
	}
	n.evMu.Lock()
	n.evQueue = append(n.evQueue, ev)
	n.evMu.Unlock()
}

// deliverEvents hands the queued events to the callback in order, unless
// another goroutine is doing so already (it will deliver these too). Call
// it after releasing linkMu.
func (n *Node) deliverEvents() {
	if n.cfg.events == nil {
		return
	}
	n.evMu.Lock()
	if n.evDelivering {
		n.evMu.Unlock()
		return
	}
	n.evDelivering = true
	for len(n.evQueue) > 0 {
		ev := n.evQueue[0]
		n.evQueue[0] = PeerEvent{}
		n.evQueue = n.evQueue[1:]
		n.evMu.Unlock()
		n.emit(ev)
		n.evMu.Lock()
	}
	n.evQueue = n.evQueue[:0]
	n.evDelivering = false
	n.evMu.Unlock()
}

// routeAddr returns addr with its host as an IP address in canonical form,
// so that one peer is one route however its address is spelled
// ("localhost:7000" and "127.0.0.1:7000" are one route). A host name is
// looked up with the system resolver, bounded by ctx and the dial timeout;
// that blocks, so on an event loop only IP addresses are accepted
// (ErrOnEventLoop). IPv4 is preferred when a name has both.
func (n *Node) routeAddr(ctx context.Context, addr string) (string, error) {
	if err := proto.ValidateAddr(addr); err != nil {
		return "", err
	}
	host, port, _ := net.SplitHostPort(addr)
	if ip, err := netip.ParseAddr(host); err == nil {
		return net.JoinHostPort(ip.Unmap().String(), port), nil
	}
	if n.onLoop() {
		return "", fmt.Errorf("%w: resolving %s", ErrOnEventLoop, host)
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.dialTimeout)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return "", fmt.Errorf("%w: resolve %s: %w", ErrDial, host, err)
	}
	if len(ips) == 0 {
		return "", fmt.Errorf("%w: resolve %s: no address", ErrDial, host)
	}
	ip := ips[0]
	for _, a := range ips {
		if a.Unmap().Is4() {
			ip = a
			break
		}
	}
	return net.JoinHostPort(ip.Unmap().String(), port), nil
}

// claimDial makes pc the one dial in flight to e and returns nil, or returns
// the dial that holds the claim; a finished holder's claim is taken over.
// AddRoute and the redialer never dial one route twice at once: two links
// dialed by one side at once may be kept in different orders by the two
// ends, which would retire both.
func (n *Node) claimDial(e *route.Entry, pc *peerConn) *peerConn {
	for {
		v, held := n.dialing.LoadOrStore(e, pc)
		if !held {
			return nil
		}
		h := v.(*peerConn)
		if !h.dialDone() {
			return h
		}
		if n.dialing.CompareAndSwap(e, h, pc) {
			return nil
		}
	}
}

// releaseDial drops pc's claim on e, if it still holds it.
func (n *Node) releaseDial(e *route.Entry, pc *peerConn) { n.dialing.CompareAndDelete(e, pc) }

// dialDone reports whether a dial is over: its handshake ended, or its
// dialer gave up.
func (pc *peerConn) dialDone() bool {
	select {
	case <-pc.ready:
		return true
	default:
		return pc.abandoned.Load()
	}
}

// awaitDial waits for another caller's dial to the same route (bounded by
// the dial and handshake timeouts and ctx) and reports its outcome.
func (n *Node) awaitDial(ctx context.Context, other *peerConn) error {
	peer := other.entry.ID
	limit := time.NewTimer(n.cfg.dialTimeout + n.cfg.handshakeTimeout)
	defer limit.Stop()
	poll := time.NewTicker(tickEvery / 5) // a dial given up before its socket opened closes nothing
	defer poll.Stop()
	for !other.dialDone() {
		select {
		case <-other.ready:
		case <-poll.C:
		case <-limit.C:
			return fmt.Errorf("%w: %s: %w", ErrDial, peer, ErrTimeout)
		case <-ctx.Done():
			return fmt.Errorf("%w: %s: %w", ErrDial, peer, ctx.Err())
		}
	}
	select {
	case <-other.ready:
		if other.hsErr != nil {
			return fmt.Errorf("antnet: connect %s: %w", peer, other.hsErr)
		}
		return nil
	default:
		other.mu.Lock()
		cause := other.closeErr
		other.mu.Unlock()
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
func (n *Node) awaitUsable(ctx context.Context, e *route.Entry) error {
	deadline := time.Now().Add(min(n.cfg.handshakeTimeout, time.Second))
	for {
		_, err := n.link(e)
		if err == nil || ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(time.Millisecond)
	}
}

// nonceMap maps a peer's hello nonce to the entry its link is on, with the
// sync.Map methods the node uses: a plain map under a mutex holds a link in
// about 20 bytes where a sync.Map entry with a boxed key costs about 110.
type nonceMap struct {
	mu sync.Mutex
	m  map[uint64]*route.Entry
}

// Store maps k (a uint64) to v (a *route.Entry).
func (s *nonceMap) Store(k, v any) {
	s.mu.Lock()
	if s.m == nil {
		s.m = make(map[uint64]*route.Entry)
	}
	s.m[k.(uint64)] = v.(*route.Entry)
	s.mu.Unlock()
}

// Load returns the entry of k, or nil and false.
func (s *nonceMap) Load(k any) (any, bool) {
	s.mu.Lock()
	e, ok := s.m[k.(uint64)]
	s.mu.Unlock()
	if !ok {
		return nil, false
	}
	return e, true
}

// CompareAndDelete removes k if it maps to old, and reports whether it did.
func (s *nonceMap) CompareAndDelete(k, old any) bool {
	nonce := k.(uint64)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[nonce]; !ok || e != old.(*route.Entry) {
		return false
	}
	delete(s.m, nonce)
	if len(s.m) == 0 {
		s.m = nil // a map does not shrink: let the last link's going free it
	}
	return true
}
