package engine

import (
	"net/netip"
	"time"

	"github.com/antnet-p2p/antnet/connmgr"
	"github.com/antnet-p2p/antnet/proto"
	"github.com/antnet-p2p/antnet/route"
)

// The connection manager: the node keeps its number of links between the
// marks (WithMinLinks, WithMaxLinks) and under the caps (WithMaxInbound,
// WithMaxLinksPerIP). Package connmgr decides; this file describes the
// node's links to it and acts on its answers: an inbound hello over a cap
// is refused; above the high mark the ticker retires links with a goaway
// carrying proto.GoawayTooManyLinks, and the peer that receives one does
// not dial back soon (parkRetired).

func (n *Node) connPolicy() connmgr.Config {
	return connmgr.Config{
		Low: n.cfg.minLinks, High: n.cfg.maxLinks, Grace: n.cfg.linkGrace,
		MaxInbound: n.cfg.maxInbound, MaxPerIP: n.cfg.maxPerIP,
	}
}

// policyLinks describes the node's persistent links for the policy.
// O(peers).
func (n *Node) policyLinks(links []*peerConn) []connmgr.Link {
	out := make([]connmgr.Link, 0, len(links))
	for _, pc := range links {
		_, static := n.staticRoutes.Load(pc.entry.ID.Addr)
		out = append(out, connmgr.Link{
			Addr:    pc.entry.ID.Addr,
			IP:      remoteIP(pc.remoteAddr),
			Static:  static,
			Inbound: !pc.outbound,
			Since:   time.Unix(0, pc.readyAt.Load()),
			Score:   int64(pc.framesIn.Load()), // the busiest links stay
		})
	}
	return out
}

// remoteIP is the IP of a socket's "ip:port", IPv4-mapped addresses unmapped.
func remoteIP(hostport string) string {
	ap, err := netip.ParseAddrPort(hostport)
	if err != nil {
		return hostport
	}
	return ap.Addr().Unmap().String()
}

// admitLink applies the inbound and per-IP caps to a persistent hello from
// id on pc. A static route, or a peer whose route already has a link (the
// new link replaces or duplicates it: no growth), is always admitted. A
// refusal is connmgr.ErrTooManyInbound or ErrTooManyPerIP, with the count.
// Loop, under linkMu.
func (n *Node) admitLink(pc *peerConn, id proto.PeerID) error {
	if n.cfg.maxInbound == 0 && n.cfg.maxPerIP == 0 {
		return nil
	}
	if e := n.table.Get(id.Addr); e != nil && e.Link() != nil {
		return nil
	}
	_, static := n.staticRoutes.Load(id.Addr)
	if err := n.connPolicy().Admit(n.policyLinks(n.linkedPeers()), remoteIP(pc.remoteAddr), static); err != nil {
		n.stats.refused.Add(1)
		return err // the refusal's text as it goes on the wire; the dialer adds ErrRefused
	}
	return nil
}

// trimLinks retires the links the policy finds above the high mark: the
// ones that carried the fewest frames, the youngest first. Ticker.
func (n *Node) trimLinks(links []*peerConn, now time.Time) {
	if len(links) <= n.cfg.maxLinks {
		return
	}
	byAddr := make(map[string]*peerConn, len(links))
	for _, pc := range links {
		byAddr[pc.entry.ID.Addr] = pc
	}
	for _, addr := range n.connPolicy().Trim(n.policyLinks(links), now) {
		pc := byAddr[addr]
		pc.goawayReason.Store(uint32(proto.GoawayTooManyLinks))
		pc.setDown(ReasonTooManyLinks)
		n.stats.linksTrimmed.Add(1)
		n.log.Debug("retiring a link: too many links", "peer", pc.peer.String(), "links", len(links), "high", n.cfg.maxLinks)
		pc.retire()
	}
}

// parkRetired notes that the peer of pc retired the link because it has
// too many: its book entry is not dialed for WithRedialMaxBackoff. It
// reports whether a static route to it should wait that long too: only if
// the node has another link to go on with. Any goroutine.
func (n *Node) parkRetired(pc *peerConn) (wait time.Duration, parked bool) {
	// The peer's goaway said so (the reason was recorded on arrival), and
	// not this node's own trim, whose goaway the peer answered.
	if pc.downWhy.Load() != uint32(ReasonTooManyLinks) || !pc.goawayRecv.Load() || pc.goawayReason.Load() != 0 {
		return 0, false
	}
	wait = jitter(n.cfg.redialMax)
	if n.disc != nil {
		n.disc.book.Park(pc.entry.ID.Addr, time.Now().Add(wait))
		if _, static := n.staticRoutes.Load(pc.entry.ID.Addr); static {
			n.disc.retiredUs.Store(pc.entry.ID.Addr, struct{}{})
		}
	}
	return wait, len(n.linkedPeers()) > 0
}

// waitForRoom reports whether the redial of static route e, whose peer
// retired our link for having too many, should wait another
// WithRedialMaxBackoff: with WithMinLinks, while this node has at least
// that many links it does not need the peer. Else every node started from
// one bootstrap would dial it again every WithRedialMaxBackoff, for ever,
// and be trimmed again. Ticker, under redialMu; O(peers).
func (n *Node) waitForRoom(e *route.Entry) bool {
	if n.disc == nil {
		return false
	}
	if _, ok := n.disc.retiredUs.Load(e.ID.Addr); !ok {
		return false
	}
	return len(n.linkedPeers()) >= n.cfg.minLinks
}
