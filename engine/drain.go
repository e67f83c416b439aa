package engine

import "github.com/antnet-p2p/antnet/proto"

// Retiring a link. A link is retired when the duplicate-link rule drops it,
// when its route is deleted, when the peer sends goaway, or when the node
// closes. A retired link takes no new requests; once its own requests have
// been answered it sends goaway, and it closes when goaway has gone both
// ways (or when the drain deadline, twice the request timeout, passes).

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
	if !pc.state.CompareAndSwap(stateReady, stateDraining) {
		return false
	}
	pc.setDeadline(2 * n.cfg.timeout)
	return true
}

// finishDrain sends goaway once pc's requests are answered, and closes pc
// once goaway went both ways. Any goroutine.
func (pc *peerConn) finishDrain() {
	if pc.state.Load() != stateDraining || pc.inflight.Load() > 0 {
		return
	}
	if pc.goawaySent.CompareAndSwap(false, true) {
		why := proto.AppendGoaway(nil, byte(pc.goawayReason.Load()))
		_, _ = pc.send(codecGoaway, 0, 0, 0, why, nil)
	}
	if pc.goawayRecv.Load() {
		pc.close()
	}
}

// unrouteIfLearned removes a peer's entry that only an inbound hello put in
// the table, once its link is gone; routes added by AddRoute stay. Under
// linkMu.
func (pc *peerConn) unrouteIfLearned() {
	n := pc.n
	if _, static := n.routes.static.Load(pc.entry.ID.Addr); !static && pc.entry.Link() == nil {
		if e := n.routes.table.Get(pc.entry.ID.Addr); e == pc.entry {
			_, _ = n.routes.table.Delete(pc.entry.ID.Addr)
			n.routes.goneNonces.Delete(pc.entry)
		}
	}
}
