package upkeep

import (
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/antnet-p2p/antnet/book"
	"github.com/antnet-p2p/antnet/proto"
)

// Discovery (Config.Low > 0). The upkeep keeps an address book of the
// peers the node linked with and the addresses they told it. On the tick,
// while the node has fewer links than the low mark (or fewer known
// addresses than twice that), it asks one random linked peer for addresses
// (pex-request, at most every pexEvery), and while it has fewer links it
// dials learned peers (at most MaxLearnedDials in flight). Above the high
// mark it trims the least useful links.

// tickDiscovery asks for addresses, saves the book, dials learned peers
// below the low mark and trims above the high mark. It reports whether the
// degree is outside the marks. Tick.
func (u *Upkeep[R]) tickDiscovery(now time.Time) (outside bool) {
	if u.book == nil {
		return false
	}
	links := u.core.Links()
	low, known := u.cfg.Low, u.book.Len()
	u.mu.Lock()
	ask := now.Sub(u.lastAsk) >= pexEvery && len(links) > 0 && (len(links) < low || known < 2*low)
	if ask {
		u.lastAsk = now
	}
	save := now.Sub(u.lastSave) >= bookSaveEvery
	if save {
		u.lastSave = now
	}
	u.mu.Unlock()
	if ask || save {
		u.prune()
	}
	if ask {
		r := links[rand.IntN(len(links))].Route
		u.core.AskPex(r, func(id uint64) {
			u.mu.Lock()
			u.asked[r] = id
			u.mu.Unlock()
		})
	}
	if save {
		if err := u.book.Save(); err != nil {
			u.log.Warn("saving the address book", "err", err)
		}
	}
	if len(links) < low {
		u.dialLearned(now, len(links))
	}
	u.trim(links, now)
	return len(links) < low || len(links) > u.cfg.High
}

// prune forgets the pex state of routes the core no longer holds (their
// link never went down as the route's: a retired duplicate, say).
// O(routes asked or served).
func (u *Upkeep[R]) prune() {
	u.mu.Lock()
	var stale []R
	for r := range u.asked {
		stale = append(stale, r)
	}
	for r := range u.served {
		stale = append(stale, r)
	}
	u.mu.Unlock()
	held := make(map[R]bool, len(stale))
	for _, l := range u.core.Links() {
		held[l.Route] = true
	}
	u.mu.Lock()
	for _, r := range stale {
		if !held[r] {
			delete(u.asked, r)
			delete(u.served, r)
		}
	}
	u.mu.Unlock()
}

// dialLearned schedules dials of peers from the book while the node has
// linked links, below the low mark, keeping at most MaxLearnedDials in
// flight (connmgr's Want, bounded). They are dialed on the next tick.
func (u *Upkeep[R]) dialLearned(now time.Time, linked int) {
	inFlight := u.learnedInFlight()
	room := min(MaxLearnedDials-inFlight, u.policy.Want(linked, inFlight))
	if room <= 0 {
		return
	}
	u.mu.Lock()
	self := u.self
	u.mu.Unlock()
	skip := func(addr string) bool {
		if addr == self {
			return true
		}
		_, _, routed := u.core.Route(addr)
		return routed
	}
	for _, p := range u.book.DialCandidates(now, room, skip) {
		u.book.Tried(p.ID.Addr, now)
		id := proto.PeerID{Name: p.ID.Name, Addr: p.ID.Addr}
		r, err := u.core.Learn(id)
		if err != nil {
			u.book.Failed(p.ID.Addr, now)
			continue
		}
		u.mu.Lock()
		if _, ok := u.redials[r]; !ok {
			if p.ID.Key != "" {
				u.keys[p.ID.Addr] = p.ID.Key
			}
			u.redials[r] = &redial{id: id, due: now, learned: true}
		}
		u.mu.Unlock()
	}
}

// trim retires the links the policy finds above the high mark: the ones
// that carried the fewest frames, the youngest first, never a static one
// or one younger than the grace period. O(links log links) above the mark.
func (u *Upkeep[R]) trim(links []Link[R], now time.Time) {
	if len(links) <= u.cfg.High {
		return
	}
	byAddr := make(map[string]R, len(links))
	for _, l := range links {
		byAddr[l.Addr] = l.Route
	}
	for _, addr := range u.policy.Trim(policyLinks(links), now) {
		u.log.Debug("retiring a link: too many links", "peer", addr, "links", len(links), "high", u.cfg.High)
		u.core.Retire(byAddr[addr])
	}
}

// ServePex answers route r's pex-request (payload) from the book: the
// pex-response's payload, at most the addresses asked for, none of them
// the asker's (addr) and, on secure networks, only entries with a key. A
// route is answered at most once per second (more: ErrPexBusy); a
// malformed request is proto.ErrBadPex. Discovery off (Book nil): not
// called. Any goroutine.
func (u *Upkeep[R]) ServePex(r R, asker string, payload []byte) ([]byte, error) {
	want, err := proto.ParsePexRequest(payload)
	if err != nil {
		return nil, err
	}
	now := u.core.Now()
	u.mu.Lock()
	last, ok := u.served[r]
	busy := ok && now.Sub(last) < pexServeEvery
	if !busy {
		u.served[r] = now
	}
	u.mu.Unlock()
	if busy {
		return nil, ErrPexBusy
	}
	peers := u.book.Sample(want, func(addr string) bool { return addr == asker })
	ids := make([]proto.PeerID, 0, len(peers))
	for _, p := range peers {
		id := p.ID
		if u.cfg.KeySize == 0 {
			id.Key = ""
		} else if len(id.Key) != u.cfg.KeySize {
			continue // the asker would refuse the whole answer for it
		}
		ids = append(ids, id)
	}
	return proto.AppendPexResponse(nil, ids), nil
}

// TakePex takes a pex-response (payload) to the request id that route r
// at from was asked: its addresses go into the book as heard from that
// peer (host names, which are never resolved on a peer's word, and this
// node's address left out). known is false for an answer to no request
// of ours (nothing is read); a malformed one is proto.ErrBadPex. learned
// counts the addresses the book took. Discovery off: not called. Any
// goroutine.
func (u *Upkeep[R]) TakePex(r R, from string, id uint64, payload []byte) (learned int, known bool, err error) {
	u.mu.Lock()
	want, ok := u.asked[r]
	if ok && want == id {
		delete(u.asked, r)
	}
	self := u.self
	u.mu.Unlock()
	if !ok || want != id {
		return 0, false, nil
	}
	ids, err := proto.ParsePexResponse(payload, u.cfg.KeySize)
	if err != nil {
		return 0, true, err
	}
	now := u.core.Now()
	for _, id := range ids {
		ap, err := netip.ParseAddrPort(id.Addr)
		if err != nil { // a host name
			continue
		}
		id.Addr = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
		if id.Addr == self {
			continue
		}
		if u.book.Add(id, book.Exchange, from, now) == nil {
			learned++
		}
	}
	return learned, true, nil
}
