package engine

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/valyala/bytebufferpool"

	"github.com/antnet-p2p/antnet/book"
	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/proto"
	"github.com/antnet-p2p/antnet/secure"
)

// Peer discovery (WithMinLinks). The node keeps an address book of the
// peers it linked with and the addresses they told it. From the ticker,
// while it has fewer links than the minimum (or fewer known addresses than
// twice that), it asks one random linked peer for addresses (pex-request,
// at most every pexEvery), and while it has fewer links it dials learned
// peers through the redialer (at most maxLearnedDials in flight). A learned
// route whose dial fails is dropped and the book backs it off; one whose
// link drops goes with the link and is dialed again from the book.

const (
	pexEvery        = 2 * time.Second // between two pex-requests of a node
	pexServeEvery   = time.Second     // between two pex-requests one link gets answered
	maxLearnedDials = 4               // learned dials in flight
	bookSaveEvery   = time.Minute
	bookPerSource   = proto.MaxPexAddrs / 2 // addresses kept from any one peer
)

type discovery struct {
	book *book.Book

	mu       sync.Mutex
	lastAsk  time.Time
	lastSave time.Time
	asked    map[*peerConn]uint64 // id of the pex-request out on a link
	keys     sync.Map             // addr -> the key the book knows for a learned dial in flight: pinned
	served   map[*peerConn]int64  // node clock when a link's pex-request was last answered
	// addr -> struct{}: peers that retired our link for having too many,
	// until a link to them comes up again (waitForRoom)
	retiredUs sync.Map
}

// newDiscovery returns the discovery state WithMinLinks asks for, or nil.
func newDiscovery(cfg *config) (*discovery, error) {
	if cfg.minLinks == 0 {
		return nil, nil
	}
	b, err := book.New(book.Config{Path: cfg.bookPath, MaxPerSource: bookPerSource})
	if err != nil {
		return nil, fmt.Errorf("%w: WithAddressBook(%q): %w", ErrBadOption, cfg.bookPath, err)
	}
	return &discovery{book: b, lastSave: time.Now(), asked: make(map[*peerConn]uint64), served: make(map[*peerConn]int64)}, nil
}

// discLinked records a link that came up in the book. Under linkMu.
func (n *Node) discLinked(pc *peerConn) {
	if n.disc == nil || pc.dialOnly || pc.entry == nil {
		return
	}
	addr, now := pc.entry.ID.Addr, time.Now()
	n.disc.keys.Delete(addr) // the pin held: checkPin let this link through
	n.disc.retiredUs.Delete(addr)
	src := book.Inbound
	if _, static := n.staticRoutes.Load(addr); static {
		src = book.Static
	}
	_ = n.disc.book.Add(proto.PeerID{Name: pc.peer.Name, Addr: addr, Key: pc.peerKey}, src, "", now)
	n.disc.book.Connected(addr, now)
}

// discUnlinked records a link that went down. Under linkMu.
func (n *Node) discUnlinked(pc *peerConn) {
	if n.disc == nil {
		return
	}
	n.disc.mu.Lock()
	delete(n.disc.asked, pc)
	delete(n.disc.served, pc)
	n.disc.mu.Unlock()
	if !pc.dialOnly {
		n.disc.book.Disconnected(pc.entry.ID.Addr, time.Now())
	}
}

// AddressBook returns the peers the node's address book holds, sorted by
// address; nil without WithMinLinks. O(entries log entries).
func (n *Node) AddressBook() []book.Peer {
	if n.disc == nil {
		return nil
	}
	return n.disc.book.All()
}

// saveBook writes the book to its file, if it has one.
func (n *Node) saveBook() {
	if n.disc == nil {
		return
	}
	if err := n.disc.book.Save(); err != nil {
		n.log.Warn("saving the address book", "err", err)
	}
}

// linkedPeers returns the links of the route table. O(peers).
func (n *Node) linkedPeers() []*peerConn {
	var out []*peerConn
	for _, e := range n.table.All() {
		if l := e.Link(); l != nil {
			out = append(out, l.(*peerConn))
		}
	}
	return out
}

// discoverDue asks for addresses and dials learned peers while the node is
// short of links, and trims links above the high mark. It reports whether
// the node is outside its marks. Ticker.
func (n *Node) discoverDue(now time.Time) (outside bool) {
	d := n.disc
	if d == nil || n.state.Load() != nodeRunning {
		return false
	}
	links := n.linkedPeers()
	want := n.cfg.minLinks
	d.mu.Lock()
	ask := now.Sub(d.lastAsk) >= pexEvery && len(links) > 0 && (len(links) < want || d.book.Len() < 2*want)
	if ask {
		d.lastAsk = now
		d.prune()
	}
	save := now.Sub(d.lastSave) >= bookSaveEvery
	if save {
		d.lastSave = now
		d.prune()
	}
	d.mu.Unlock()
	if ask {
		n.askPex(links[rand.IntN(len(links))])
	}
	if save {
		n.saveBook()
	}
	if len(links) < want {
		n.dialLearned(now, want-len(links))
	}
	n.trimLinks(links, now)
	return len(links) < want || len(links) > n.cfg.maxLinks
}

// prune forgets the pex state of closed links that were never a route's
// link (detach cleans the others): a retired duplicate, say. Under d.mu,
// O(links).
func (d *discovery) prune() {
	for pc := range d.asked {
		if pc.state.Load() == stateClosed {
			delete(d.asked, pc)
		}
	}
	for pc := range d.served {
		if pc.state.Load() == stateClosed {
			delete(d.served, pc)
		}
	}
}

// askPex sends pc a pex-request. Ticker.
func (n *Node) askPex(pc *peerConn) {
	id := pc.nextID.Add(1)
	n.disc.mu.Lock()
	n.disc.asked[pc] = id
	n.disc.mu.Unlock()
	n.stats.pexAsked.Add(1)
	_, _ = pc.send(codec.KindPexRequest, 0, 0, id, proto.AppendPexRequest(nil, proto.MaxPexAddrs), nil)
}

// dialLearned starts dials of up to short peers from the book, keeping at
// most maxLearnedDials in flight. Ticker.
func (n *Node) dialLearned(now time.Time, short int) {
	n.redialMu.Lock()
	defer n.redialMu.Unlock()
	inFlight := n.learnedInFlight()
	room := min(maxLearnedDials-inFlight, short-inFlight)
	if room <= 0 {
		return
	}
	skip := func(addr string) bool { return addr == n.id.Addr || n.table.Get(addr) != nil }
	for _, p := range n.disc.book.DialCandidates(now, room, skip) {
		n.disc.book.Tried(p.ID.Addr, now)
		n.linkMu.Lock()
		e, err := n.table.Add(proto.PeerID{Name: p.ID.Name, Addr: p.ID.Addr})
		n.linkMu.Unlock()
		if err != nil {
			n.disc.book.Failed(p.ID.Addr, now)
			continue
		}
		if _, ok := n.redials[e]; !ok {
			if p.ID.Key != "" {
				n.disc.keys.Store(p.ID.Addr, p.ID.Key)
			}
			n.redials[e] = &redial{entry: e, due: now, learned: true}
		}
	}
}

// learnedFailed drops a learned route whose dial failed; the book backs
// its address off. Ticker, under redialMu.
func (n *Node) learnedFailed(r *redial, now time.Time) {
	e := r.entry
	if r.pc != nil {
		n.releaseDial(e, r.pc)
	}
	delete(n.redials, e)
	n.disc.keys.Delete(e.ID.Addr)
	n.disc.book.Failed(e.ID.Addr, now)
	n.linkMu.Lock()
	if _, static := n.staticRoutes.Load(e.ID.Addr); !static && e.Link() == nil && n.table.Get(e.ID.Addr) == e {
		_, _ = n.table.Delete(e.ID.Addr)
		n.goneNonces.Delete(e)
	}
	n.linkMu.Unlock()
}

// learnedKey returns the key a learned dial to addr in flight expects.
// Any goroutine.
func (n *Node) learnedKey(addr string) (string, bool) {
	if n.disc == nil {
		return "", false
	}
	v, ok := n.disc.keys.Load(addr)
	if !ok {
		return "", false
	}
	return v.(string), true
}

// pexFrame serves a pex-request or takes a pex-response; it reports false
// (the frame is an unknown kind) when discovery is off. Loop.
func (n *Node) pexFrame(pc *peerConn, f *codec.Frame, w *bytebufferpool.ByteBuffer) (bool, gnet.Action) {
	if n.disc == nil || pc.entry == nil {
		return false, gnet.None
	}
	if f.Kind == codec.KindPexRequest {
		return true, n.servePex(pc, f, w)
	}
	d := n.disc
	d.mu.Lock()
	want, ok := d.asked[pc]
	if ok && want == f.ID {
		delete(d.asked, pc)
	}
	d.mu.Unlock()
	if !ok || want != f.ID {
		n.stats.unknownReplies.Add(1)
		return true, gnet.None
	}
	keySize := 0
	if n.cfg.identity != nil {
		keySize = secure.KeySize
	}
	ids, err := proto.ParsePexResponse(f.Payload, keySize)
	if err != nil {
		return true, pc.violation(err)
	}
	now := time.Now()
	for _, id := range ids {
		ap, err := netip.ParseAddrPort(id.Addr)
		if err != nil { // a host name: never resolved on a peer's word
			continue
		}
		id.Addr = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
		if id.Addr == n.id.Addr {
			continue
		}
		if d.book.Add(id, book.Exchange, pc.entry.ID.Addr, now) == nil {
			n.stats.pexLearned.Add(1)
		}
	}
	return true, gnet.None
}

// servePex answers a pex-request from the book, at most one per link per
// pexServeEvery; more are answered busy. Loop.
func (n *Node) servePex(pc *peerConn, f *codec.Frame, w *bytebufferpool.ByteBuffer) gnet.Action {
	want, err := proto.ParsePexRequest(f.Payload)
	if err != nil {
		return pc.violation(err)
	}
	d, t := n.disc, n.clock.Load()
	d.mu.Lock()
	last, ok := d.served[pc]
	busy := ok && t-last < int64(pexServeEvery)
	if !busy {
		d.served[pc] = t
	}
	d.mu.Unlock()
	if busy {
		w.B = appendError(w.B, f.ID, proto.CodeBusy, "pex-request: at most one a second")
		return gnet.None
	}
	asker := pc.entry.ID.Addr
	peers := d.book.Sample(want, func(addr string) bool { return addr == asker })
	ids := make([]proto.PeerID, 0, len(peers))
	for _, p := range peers {
		id := p.ID
		if n.cfg.identity == nil {
			id.Key = ""
		} else if len(id.Key) != secure.KeySize {
			continue // the asker would refuse the whole answer for it
		}
		ids = append(ids, id)
	}
	n.stats.pexServed.Add(1)
	payload := proto.AppendPexResponse(nil, ids)
	w.B = codec.AppendHeader(w.B, codec.KindPexResponse, 0, 0, f.ID, len(payload))
	w.B = append(w.B, payload...)
	return gnet.None
}

// learnedInFlight counts the dials of learned peers in flight. Under
// redialMu.
func (n *Node) learnedInFlight() int {
	c := 0
	for _, r := range n.redials {
		if r.learned {
			c++
		}
	}
	return c
}
