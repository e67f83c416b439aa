package engine

import (
	"github.com/antnet-p2p/antnet/internal/link"
	"github.com/antnet-p2p/antnet/proto"
)

// Retiring a link (the duplicate-link rule, Delete, the peer's goaway,
// the trim, Close): it takes no new requests, sends goaway once its own
// are answered, and closes when goaway went both ways or at the drain
// deadline (twice the request timeout).

// retire starts draining pc and takes it off its route. Any goroutine; not
// under linkMu.
func (pc *peerConn) retire() {
	if pc.startDrain() && pc.entry != nil {
		pc.detach()
	}
	pc.finishDrain()
}

// startDrain moves a ready pc to draining and reports whether it did.
func (pc *peerConn) startDrain() bool {
	n := pc.n
	if !pc.State.CompareAndSwap(link.Ready, link.Draining) {
		return false
	}
	pc.setDeadline(2 * n.cfg.Timeout)
	return true
}

// finishDrain sends goaway once pc's requests are answered, and closes pc
// once goaway went both ways. Any goroutine.
func (pc *peerConn) finishDrain() {
	if pc.State.Load() != link.Draining || pc.InFlight() > 0 {
		return
	}
	if pc.State.Mark(link.FlagGoawaySent) {
		why := proto.AppendGoaway(nil, pc.State.Goaway())
		_, _ = pc.send(codecGoaway, 0, 0, 0, why, nil)
	}
	if pc.State.Has(link.FlagGoawayRecv) {
		pc.Close()
	}
}

// unrouteIfLearned removes pc's route once its link is gone, unless
// AddRoute added it. Under linkMu.
func (pc *peerConn) unrouteIfLearned() { pc.n.routes.forgetLearned(pc.entry) }

// forgetLearned removes e from the table if it is still there, has no
// link, and was learned (an inbound hello, the address book), not added by
// AddRoute. Under linkMu.
func (rs *routeState) forgetLearned(e *routeEntry) {
	if !rs.isStatic(e.ID.Addr) && e.Link() == nil && rs.table.Get(e.ID.Addr) == e {
		_, _ = rs.table.Delete(e.ID.Addr)
		rs.goneNonces.Delete(e)
	}
}

// isStatic reports whether AddRoute added the route at addr.
func (rs *routeState) isStatic(addr string) bool {
	_, static := rs.static.Load(addr)
	return static
}
