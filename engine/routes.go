package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/antnet-p2p/antnet/internal/claim"
	"github.com/antnet-p2p/antnet/internal/config"
	"github.com/antnet-p2p/antnet/internal/sockaddr"
	"github.com/antnet-p2p/antnet/proto"
	"github.com/antnet-p2p/antnet/route"
)

// Route lifecycle. Every change to which entries the table holds, which
// link an entry routes to, and which routes are static happens under
// n.routes.linkMu, together with queueing the peer event it raises; so an entry is
// never deleted between a handshake finding it and attaching to it, and
// events for one peer leave in the order of the changes. linkMu is held for
// a few map operations only, never across a blocking call or a callback.

// routeEntry and routeTable are the route table's types with the engine's
// links: an entry holds its link as a *peerConn.
type (
	routeEntry = route.Entry[peerConn, *peerConn]
	routeTable = route.Table[peerConn, *peerConn]
)

// routeState is the route table and the facts that change with it. Every
// change to the table's entries, an entry's link, the static routes and the
// pins happens under linkMu (see above); the maps are read lock-free.
type routeState struct {
	table      *routeTable
	linkMu     sync.Mutex
	dialing    claim.Table[*routeEntry, *peerConn] // the route's one dial in flight
	goneNonces sync.Map                            // *routeEntry -> uint64: the nonce of the incarnation a restart last replaced
	static     sync.Map                            // addr -> struct{}: routes added by AddRoute
	pins       sync.Map                            // addr -> key fingerprint pinned by AddRoute (secure nodes)
}

// AddRoute adds the peer name listening at addr. The route is keyed by
// the address with its host resolved to an IP (a host name is looked up
// once, here), so "localhost:7000" and "127.0.0.1:7000" are one route. In
// persistent mode it also connects and completes the handshake before it
// returns (bounded by the dial and handshake timeouts); an existing live
// link is reused, and nil means the route has a usable link. If the
// connect fails, AddRoute returns why (ErrDial when the peer is not up)
// but the route stays and is redialed with backoff (WithRedialBackoff)
// until it is deleted, so peers may start in any order; only a refusal that
// would repeat (ErrSelf, ErrPeerMismatch, ErrRefused, ErrNotAdmitted)
// removes it. In short mode it only records the address. Adding the same
// peer again is a no-op.
//
// On a secure node, addr may end in "#fingerprint" (PeerID.Pinned gives
// the whole form): the route then accepts only the key with that
// fingerprint at that address, whoever dials. Another key answering there,
// or dialing in under that address, is refused with ErrKeyMismatch, even
// if the admission rules let it in. The pin lasts until Delete. Plain links
// are not authenticated: anyone may claim any name@address, and a pin on a
// plain node is proto.ErrBadPeerID.
func (n *Node) AddRoute(name, addr string) error {
	return n.AddRouteContext(context.Background(), name, addr)
}

// AddRouteContext is AddRoute with a context that can cancel the connect
// (and the host name lookup); the route stays as with any failed connect.
func (n *Node) AddRouteContext(ctx context.Context, name, addr string) error {
	if err := n.checkRunning(); err != nil {
		return err
	}
	if n.cfg.Mode == config.Persistent && n.own.onLoop() {
		return ErrOnEventLoop // before anything is stored: no route left undialed
	}
	addr, pin, err := proto.CutFingerprint(addr)
	if err != nil {
		return err
	}
	if pin != "" && n.cfg.Identity == nil {
		return fmt.Errorf("%w: %s pins a key, but this node's links are plain (no WithIdentity)", proto.ErrBadPeerID, addr)
	}
	if err := (proto.PeerID{Name: name, Addr: addr}).Validate(); err != nil {
		return err
	}
	addr, err = n.routeAddr(ctx, addr)
	if err != nil {
		return err
	}
	id := proto.PeerID{Name: name, Addr: addr}
	if addr == n.id.Addr {
		return fmt.Errorf("%w: %s", ErrSelf, addr)
	}
	n.routes.linkMu.Lock()
	e, err := n.routes.table.Add(id)
	if err == nil && pin != "" {
		if l := e.Link(); l != nil {
			if got := (proto.PeerID{Key: l.Key()}).Fingerprint(); got != pin {
				err = fmt.Errorf("%w: %s is linked to key %s, not the pinned %s", ErrKeyMismatch, addr, got, pin)
			}
		}
	}
	if err == nil { // a refused pin changes nothing
		n.routes.static.Store(addr, struct{}{})
		if pin != "" {
			n.routes.pins.Store(addr, pin)
		}
	}
	n.routes.linkMu.Unlock()
	if err != nil {
		return err
	}
	if n.cfg.Mode == config.Short {
		n.tree.LinkUp(e, false) // short mode floods: every route is a link
		return nil              // short mode only records the address: safe on the event loop
	}
	if _, err := n.link(e); err == nil {
		return nil
	}
	pc := newPeerConn(n, true)
	pc.setPeer(id, e)
	pc.entry = e
	if other := n.routes.claimDial(e, pc); other != nil {
		err = n.awaitDial(ctx, other)
	} else if _, err = n.link(e); err == nil {
		n.routes.releaseDial(e, pc) // a dial that just finished linked it
	} else {
		err = n.connect(ctx, pc)
		n.routes.releaseDial(e, pc)
	}
	if err == nil {
		if n.routes.table.Get(addr) != e {
			return fmt.Errorf("%w %s: deleted while connecting", route.ErrNoRoute, id)
		}
		if err = n.awaitUsable(ctx, e); err == nil {
			return nil
		}
	}
	if permanent(err) {
		n.routes.linkMu.Lock()
		if e.Link() == nil && n.routes.table.Get(addr) == e {
			n.routes.static.Delete(addr)
			n.routes.pins.Delete(addr)
			_, _ = n.routes.table.Delete(addr)
		}
		n.routes.linkMu.Unlock()
		return err
	}
	if n.life.state.Load() == nodeRunning {
		n.upkeep.Redial(e, e.ID)
	}
	return err
}

// permanent reports whether a connect failed for a reason a redial would
// meet again.
func permanent(err error) bool {
	for _, p := range []error{ErrSelf, ErrPeerMismatch, ErrRefused, ErrNotAdmitted} {
		if errors.Is(err, p) {
			return true
		}
	}
	return false
}

// connect dials pc.peer and waits for the handshake.
func (n *Node) connect(ctx context.Context, pc *peerConn) error {
	peer := pc.peer // the loop writes pc.peer once the socket opens
	if err := n.dial(ctx, pc); err != nil {
		pc.abandon(err)
		return err
	}
	hs := time.NewTimer(n.cfg.HandshakeTimeout)
	defer hs.Stop()
	select {
	case <-pc.dial.ready:
		if pc.dial.err != nil {
			return fmt.Errorf("antnet: connect %s: %w", peer, pc.dial.err)
		}
		return nil
	case <-hs.C:
		pc.abandon(ErrHandshake)
		return fmt.Errorf("antnet: connect %s: %w: timed out", peer, ErrHandshake)
	case <-ctx.Done():
		pc.abandon(ctx.Err())
		return fmt.Errorf("antnet: connect %s: %w", peer, ctx.Err())
	}
}

// Delete removes the route key resolves to (name@host:port, host:port, or a
// unique name). Its link drains: requests in flight finish, then goaway.
func (n *Node) Delete(key string) error {
	if err := n.checkRunning(); err != nil {
		return err
	}
	n.routes.linkMu.Lock()
	e, err := n.routes.table.Delete(key)
	if err == nil {
		n.tree.LinkDown(e)
		n.routes.static.Delete(e.ID.Addr)
		n.routes.pins.Delete(e.ID.Addr)
		n.routes.goneNonces.Delete(e)
	}
	n.routes.linkMu.Unlock()
	if err != nil {
		return err
	}
	if l := e.Link(); l != nil {
		l.setDown(ReasonDeleted)
		l.retire()
	}
	return nil
}

// Peers returns the IDs in the route table, sorted by address, each with
// the key of its live link on a secure node (see PeerID.Fingerprint).
// O(peers).
func (n *Node) Peers() []proto.PeerID {
	if n.routes.table == nil {
		return nil
	}
	all := n.routes.table.All()
	ids := make([]proto.PeerID, len(all))
	for i, e := range all {
		ids[i] = e.ID
		if l := e.Link(); l != nil {
			ids[i].Key = l.Key()
		}
	}
	return ids
}

// attach offers pc to its entry under linkMu; see route.Prefer. A first
// link raises Up. A link from a restarted peer (another hello nonce)
// replaces the old incarnation's link in the same step, so the route never
// goes without a link, and the old link is closed at once: its requests
// fail with ErrConnLost instead of waiting for keepalive. A restart raises
// Down then Up. A crossed or repeated dial retires the losing link (it
// drains) and raises nothing. A late link from an incarnation already
// replaced is closed. Loop.
func (pc *peerConn) attach() {
	n := pc.n
	if gone, ok := n.routes.goneNonces.Load(pc.entry); ok && gone.(uint64) == pc.peerNonce {
		n.log.Info("closing a late link from a restarted peer's old run", "peer", pc.peer.String())
		pc.fail(fmt.Errorf("%w: %s restarted", ErrConnLost, pc.entry.ID))
		pc.Close()
		return
	}
	kept, dropped := n.routes.table.Attach(pc.entry, pc)
	switch {
	case dropped == nil:
		n.tree.LinkUp(pc.entry, pc.trees)
		n.log.Debug("peer up", "peer", remoteName{pc})
		n.peerEvents.Add(PeerEvent{Peer: pc.eventPeer(), Up: true, Outbound: pc.Outbound()})
	case dropped.Nonce() != pc.peerNonce:
		n.routes.goneNonces.Store(pc.entry, dropped.peerNonce)
		n.tree.LinkUp(pc.entry, pc.trees) // a new run: its tree state starts afresh
		n.stats.Restarts.Add(1)
		n.log.Info("peer restarted: its old link is closed", "peer", pc.peer.String())
		dropped.setDown(ReasonRestarted)
		n.peerEvents.Add(PeerEvent{Peer: dropped.eventPeer(), Reason: ReasonRestarted})
		n.peerEvents.Add(PeerEvent{Peer: pc.eventPeer(), Up: true, Outbound: pc.Outbound()})
		dropped.fail(fmt.Errorf("%w: %s restarted", ErrConnLost, pc.entry.ID))
		dropped.Close()
	default:
		n.stats.DuplicateLinks.Add(1)
		n.log.Debug("duplicate link", "peer", remoteName{pc}, "kept_outbound", kept.Outbound())
		dropped.startDrain()
		dropped.finishDrain()
	}
	n.upkeep.LinkUp(pc.entry, proto.PeerID{Name: pc.peer.Name, Addr: pc.entry.ID.Addr, Key: pc.peer.Key}, pc.dialOnly)
}

// detach takes pc off its entry if it is still the entry's link: that
// raises Down, and an entry only an inbound hello created goes with it.
// Any goroutine; not under linkMu.
func (pc *peerConn) detach() {
	n := pc.n
	n.routes.linkMu.Lock()
	if n.routes.table.Detach(pc.entry, pc) {
		n.tree.LinkDown(pc.entry)
		why := pc.downReason()
		n.log.Debug("peer down", "peer", remoteName{pc}, "why", why.String())
		n.peerEvents.Add(PeerEvent{Peer: pc.eventPeer(), Reason: why})
		n.upkeep.LinkDown(pc.entry, pc.entry.ID.Addr, pc.dialOnly)
		pc.unrouteIfLearned()
	}
	n.routes.linkMu.Unlock()
	n.peerEvents.Flush()
}

// eventPeer is the peer a PeerEvent about pc names: its route's ID, with
// the link's key on a secure node.
func (pc *peerConn) eventPeer() proto.PeerID {
	id := pc.entry.ID
	id.Key = pc.peer.Key
	return id
}

// entryFor returns the entry an inbound persistent hello joins: the entry
// of the peer's name whose link already carries the peer's nonce (the same
// node reached under another spelling of its address), else the entry at
// its advertised address, created if need be. The search is O(entries
// carrying the name): one, unless names repeat. Loop, under linkMu.
func (rs *routeState) entryFor(h proto.Hello) (*routeEntry, error) {
	var joined *routeEntry
	rs.table.EachNamed(h.ID.Name, func(e *routeEntry) bool {
		if l := e.Link(); l != nil && l.Nonce() == h.Nonce {
			joined = e
			return false
		}
		return true
	})
	if joined != nil {
		return joined, nil
	}
	return rs.table.Add(h.ID)
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
	if canon, ok := sockaddr.Literal(addr); ok {
		return canon, nil
	}
	if n.own.onLoop() {
		host, _, _ := net.SplitHostPort(addr)
		return "", fmt.Errorf("%w: resolving %s", ErrOnEventLoop, host)
	}
	canon, err := sockaddr.Resolve(ctx, addr, n.cfg.DialTimeout)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrDial, err)
	}
	return canon, nil
}
