package engine

import (
	"errors"
	"fmt"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/valyala/bytebufferpool"

	"github.com/antnet-p2p/antnet/book"
	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/connmgr"
	"github.com/antnet-p2p/antnet/internal/link"
	"github.com/antnet-p2p/antnet/internal/sockaddr"
	"github.com/antnet-p2p/antnet/proto"
	"github.com/antnet-p2p/antnet/secure"
	"github.com/antnet-p2p/antnet/upkeep"
)

// Network upkeep is a tenant: package upkeep decides (book, peer exchange,
// redials, the connection manager); this file is the core's side. It feeds
// the tenant link up/down, lost links, AddRoute's failed connects, pex
// frames and the tick, and implements upkeep.Core, through which it acts.
// A route is the tenant's handle of a peer: its *routeEntry.

// newUpkeep makes the node's upkeep tenant.
func (n *Node) newUpkeep() error {
	keySize := 0
	if n.cfg.Identity != nil {
		keySize = secure.KeySize
	}
	u, err := upkeep.New[*routeEntry](upkeep.Config{
		Low: n.cfg.MinLinks, High: n.cfg.MaxLinks, Grace: n.cfg.LinkGrace,
		MaxInbound: n.cfg.MaxInbound, MaxPerIP: n.cfg.MaxPerIP,
		RedialBase: n.cfg.RedialBase, RedialMax: n.cfg.RedialMax,
		BookPath: n.cfg.BookPath, KeySize: keySize, Quiet: quietTickEvery, Log: n.log,
	}, upkeepCore{n})
	if err != nil { // config.Validate checked the marks and caps: only the book fails
		return fmt.Errorf("%w: WithAddressBook(%q): %w", ErrBadOption, n.cfg.BookPath, err)
	}
	n.upkeep = u
	return nil
}

// AddressBook returns the peers the node's address book holds, sorted by
// address; nil without WithMinLinks. O(entries log entries).
func (n *Node) AddressBook() []book.Peer {
	if b := n.upkeep.Book(); b != nil {
		return b.All()
	}
	return nil
}

// saveBook writes the book to its file, if it has one.
func (n *Node) saveBook() {
	if err := n.upkeep.Save(); err != nil {
		n.log.Warn("saving the address book", "err", err)
	}
}

// tickUpkeep runs the tenant's tick while the node runs. Ticker.
func (n *Node) tickUpkeep(now time.Time) (busy bool) {
	return n.life.state.Load() == nodeRunning && n.upkeep.Tick(now)
}

// upkeepLost tells the tenant that pc, a link of a route, closed, and
// whether its peer retired it for having too many links: its goaway said
// so (the reason was recorded on arrival), and not this node's own trim,
// whose goaway the peer answered. Loop.
func (pc *peerConn) upkeepLost() {
	n := pc.n
	if n.life.state.Load() != nodeRunning {
		return
	}
	trimmedUs := pc.downRecorded() == ReasonTooManyLinks && pc.State.Has(link.FlagGoawayRecv) && pc.State.Goaway() == 0
	n.upkeep.Lost(pc.entry, pc.entry.ID, trimmedUs)
}

// admitLink applies the tenant's inbound and per-IP caps to a persistent
// hello from id on pc; a refusal is counted. Loop, under linkMu.
func (pc *peerConn) admitLink(id proto.PeerID) error {
	n := pc.n
	if err := n.upkeep.Admit(id.Addr, sockaddr.IP(pc.raddr)); err != nil {
		n.stats.Refused.Add(1)
		return err // the refusal's text as it goes on the wire; the dialer adds ErrRefused
	}
	return nil
}

// pexFrame hands a pex-request or pex-response to the tenant; it reports
// false (the frame is an unknown kind) when discovery is off. Loop.
func (pc *peerConn) pexFrame(f *codec.Frame, w *bytebufferpool.ByteBuffer) (bool, gnet.Action) {
	n := pc.n
	if n.upkeep.Book() == nil || pc.entry == nil {
		return false, gnet.None
	}
	if f.Kind == codec.KindPexResponse {
		learned, known, err := n.upkeep.TakePex(pc.entry, pc.entry.ID.Addr, f.ID, f.Payload)
		switch {
		case !known:
			n.stats.UnknownReplies.Add(1)
		case err != nil:
			return true, pc.violation(err)
		}
		n.stats.PexLearned.Add(uint64(learned))
		return true, gnet.None
	}
	payload, err := n.upkeep.ServePex(pc.entry, pc.entry.ID.Addr, f.Payload)
	switch {
	case errors.Is(err, upkeep.ErrPexBusy):
		w.B = appendError(w.B, f.ID, proto.CodeBusy, "pex-request: at most one a second")
	case err != nil:
		return true, pc.violation(err)
	default:
		n.stats.PexServed.Add(1)
		w.B = codec.AppendHeader(w.B, codec.KindPexResponse, 0, 0, f.ID, len(payload))
		w.B = append(w.B, payload...)
	}
	return true, gnet.None
}

// linkedPeers returns the links of the route table. O(peers).
func (n *Node) linkedPeers() []*peerConn {
	var out []*peerConn
	for _, e := range n.routes.table.All() {
		if l := e.Link(); l != nil {
			out = append(out, l)
		}
	}
	return out
}

// upkeepCore is the core as the upkeep tenant sees it.
type upkeepCore struct{ n *Node }

func (c upkeepCore) Now() time.Time { return time.Now() }

func (c upkeepCore) Links() []upkeep.Link[*routeEntry] {
	links := c.n.linkedPeers()
	out := make([]upkeep.Link[*routeEntry], len(links))
	for i, pc := range links {
		out[i] = upkeep.Link[*routeEntry]{Route: pc.entry, Link: connmgr.Link{
			Addr:    pc.entry.ID.Addr,
			IP:      sockaddr.IP(pc.raddr),
			Static:  c.IsStatic(pc.entry.ID.Addr),
			Inbound: !pc.Outbound(),
			Since:   time.Unix(0, pc.readyAt.Load()),
			Score:   int64(pc.framesIn.Load()), // the busiest links stay
		}}
	}
	return out
}

func (c upkeepCore) Route(addr string) (*routeEntry, bool, bool) {
	if c.n.routes.table == nil {
		return nil, false, false
	}
	e := c.n.routes.table.Get(addr)
	if e == nil {
		return nil, false, false
	}
	return e, e.Link() != nil, true
}

func (c upkeepCore) IsStatic(addr string) bool { return c.n.routes.isStatic(addr) }

func (c upkeepCore) Learn(id proto.PeerID) (*routeEntry, error) {
	c.n.routes.linkMu.Lock()
	defer c.n.routes.linkMu.Unlock()
	return c.n.routes.table.Add(id)
}

func (c upkeepCore) Forget(e *routeEntry) {
	c.n.routes.linkMu.Lock()
	c.n.routes.forgetLearned(e)
	c.n.routes.linkMu.Unlock()
}

func (c upkeepCore) Dial(e *routeEntry) (upkeep.Dial, error) {
	n := c.n
	pc := newPeerConn(n, true)
	pc.setPeer(e.ID, e)
	pc.entry = e
	if n.routes.claimDial(e, pc) != nil {
		return nil, upkeep.ErrDialing
	}
	n.stats.Redials.Add(1)
	a, err := n.dialAsync(pc)
	if err != nil {
		n.routes.releaseDial(e, pc)
		return nil, err
	}
	return &upkeepDial{n: n, e: e, pc: pc, connect: a}, nil
}

func (c upkeepCore) Retire(e *routeEntry) {
	l := e.Link()
	if l == nil {
		return
	}
	pc := l
	pc.State.SetGoaway(proto.GoawayTooManyLinks)
	pc.setDown(ReasonTooManyLinks)
	c.n.stats.LinksTrimmed.Add(1)
	pc.retire()
}

// pexIDBit is set in the id of every pex-request antnet sends: its
// requests number themselves by the frames queued on the link, which never
// reach 2⁶³, so the two never share an id on a link.
const pexIDBit = 1 << 63

func (c upkeepCore) AskPex(e *routeEntry, note func(id uint64)) {
	l := e.Link()
	if l == nil {
		return
	}
	id := pexIDBit | c.n.stats.PexAsked.Add(1)
	note(id)
	_, _ = l.send(codec.KindPexRequest, 0, 0, id, proto.AppendPexRequest(nil, proto.MaxPexAddrs), nil)
}

// upkeepDial is a dial the tenant asked for: a non-blocking connect
// (dialAsync), then the handshake on the loop. It holds the route's dial
// claim until it is done or aborted.
type upkeepDial struct {
	n       *Node
	e       *routeEntry
	pc      *peerConn
	connect *dialAttempt // nil once the socket is enrolled
}

// Poll polls the connect (enrolling the socket once connected); once
// connected, the handshake's end is seen on a later poll. Ticker.
func (d *upkeepDial) Poll() (bool, error) {
	if d.connect != nil {
		done, err := d.connect.Poll()
		if !done {
			return false, nil
		}
		d.connect = nil
		if err != nil {
			d.pc.abandon(err)
			d.n.routes.releaseDial(d.e, d.pc)
			return true, err
		}
		return false, nil
	}
	select {
	case <-d.pc.dial.ready:
		d.n.routes.releaseDial(d.e, d.pc)
		return true, d.pc.dial.err
	default:
		return false, nil
	}
}

// Abort gives the dial up. Ticker.
func (d *upkeepDial) Abort() {
	if d.connect != nil {
		d.connect.Abort()
	}
	d.pc.abandon(ErrClosed)
	d.n.routes.releaseDial(d.e, d.pc)
}
