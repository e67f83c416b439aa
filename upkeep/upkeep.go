// Package upkeep is a node's network upkeep, a tenant of the engine's
// core: the address book, peer exchange, the redial of lost routes, and the
// connection manager's decisions (dial learned peers below the low mark,
// trim above the high mark, admit inbound links under the caps, park a peer
// that retired our link for having too many). It holds no sockets. The core
// feeds it link up and down events, lost links, pex frames and its tick,
// and it acts through the Core interface the core implements. Its tests run
// on a fake core with a fake clock.
//
// One Upkeep has one lock, a leaf: it is held for map work only, never
// while the Upkeep calls the core, so the core may call it from an event
// loop and under its own locks.
package upkeep

import (
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/antnet-p2p/antnet/book"
	"github.com/antnet-p2p/antnet/connmgr"
	"github.com/antnet-p2p/antnet/proto"
)

// Bounds of discovery, documented with the engine's WithMinLinks.
const (
	// MaxLearnedDials is how many dials of peers from the book are in
	// flight at most.
	MaxLearnedDials = 4
	// BookPerSource is how many addresses the book keeps from any one
	// peer's pex answers.
	BookPerSource = proto.MaxPexAddrs / 2

	pexEvery      = 2 * time.Second // between two pex-requests of a node
	pexServeEvery = time.Second     // between two pex-requests one route gets answered
	bookSaveEvery = time.Minute
)

// Errors the Upkeep returns or expects.
var (
	// ErrPexBusy: a route asked for addresses again within a second; the
	// core answers it with proto.CodeBusy.
	ErrPexBusy = errors.New("upkeep: pex-request: at most one a second")
	// ErrDialing is what Core.Dial returns when the core is dialing the
	// route already (its owner's AddRoute): the redial waits a tick.
	ErrDialing = errors.New("upkeep: the route is being dialed")
)

// Config is the tenant's marks, caps and timings (the engine's options).
type Config struct {
	Low        int           // links wanted (WithMinLinks); 0 turns the book and peer exchange off
	High       int           // links kept at most (WithMaxLinks); 0 means 2×Low+2 when Low > 0
	Grace      time.Duration // a link younger than this is not trimmed
	MaxInbound int           // links the peers dialed, at most; 0 uncapped
	MaxPerIP   int           // links to one IP address, at most; 0 uncapped
	RedialBase time.Duration // first wait before a redial, doubled after each failure
	RedialMax  time.Duration // longest wait; also how long a peer that trimmed us is left alone
	BookPath   string        // file the book is loaded from and saved to; "" keeps it in memory
	KeySize    int           // bytes of a key in pex entries: 0 on plain networks
	Quiet      time.Duration // Tick reports busy while a redial falls due within this
	Log        *slog.Logger  // nil: discarded
}

// Link is one live link of the core, as the connection manager sees it.
type Link[R comparable] struct {
	Route R // the core's handle of the link's route
	connmgr.Link
}

// Core is what the tenant asks of the node's core. R is the core's handle
// of a route (the engine's *route.Entry): the tenant keys its state by it,
// so a route deleted and added again is a new route. The tenant never calls
// the core with its own lock held.
type Core[R comparable] interface {
	// Now is the clock every decision reads: the book's times, the pex rate
	// limits and the parking of a peer. A test's fake clock replaces it.
	Now() time.Time
	// Links lists the live links, one per route: their number is the
	// node's degree (the marks), and trim and admission weigh them. O(links).
	Links() []Link[R]
	// Route returns the route at addr and whether it has a live link, ok
	// false when the table holds none: a redial stops when its route is
	// gone or replaced or linked, and the book dials no routed address.
	Route(addr string) (r R, linked, ok bool)
	// IsStatic reports whether addr is a route the owner added: redialed
	// for as long as it stays, never trimmed, always admitted, Static in
	// the book.
	IsStatic(addr string) bool
	// Learn adds a route to a peer from the book, so that it can be
	// dialed: a learned route, which goes with its link.
	Learn(id proto.PeerID) (R, error)
	// Forget removes learned route r after its dial failed, unless it is
	// linked or static meanwhile.
	Forget(r R)
	// Dial starts a dial of r without waiting (ErrDialing if one is in
	// flight already). It counts as a redial in the core's statistics.
	Dial(r R) (Dial, error)
	// Retire retires r's link for the connection manager: it drains and
	// ends with a goaway saying the node has too many links.
	Retire(r R)
	// AskPex sends a pex-request on r's link, if it still has one; note
	// gets the request's id (one the core's requests never use) before
	// it leaves, so that an answer racing back finds it recorded.
	AskPex(r R, note func(id uint64))
}

// Dial is one dial the core runs for the tenant.
type Dial interface {
	// Poll advances the dial without waiting for the network (enrolling a
	// connected socket may wait for an event loop) and reports it done
	// once the handshake completed (err nil) or the dial failed.
	Poll() (done bool, err error)
	// Abort gives the dial up.
	Abort()
}

// Upkeep is one node's network upkeep. Its methods are safe for concurrent
// use, except Tick: one goroutine at a time (the core's ticker).
type Upkeep[R comparable] struct {
	cfg    Config
	policy connmgr.Config
	core   Core[R]
	book   *book.Book // nil: discovery off
	log    *slog.Logger

	mu        sync.Mutex
	self      string              // the node's address: never dialed, never learned
	redials   map[R]*redial       // Tick adds and removes them; read by others under mu
	queued    map[R]queued        // redials Lost and Redial asked for: Tick takes them
	asked     map[R]uint64        // id of the pex-request out on a route
	served    map[R]time.Time     // when a route's pex-request was last answered
	keys      map[string]string   // addr -> the key a learned dial in flight expects
	retiredUs map[string]struct{} // static routes whose peer trimmed our link, until it links again
	lastAsk   time.Time
	lastSave  time.Time
}

type redial struct {
	id      proto.PeerID // the route's peer: its address and name
	learned bool         // a peer from the book: one try

	// Tick's own; written under mu for Redials and the learned count.
	attempt int
	due     time.Time
	dial    Dial
}

type queued struct {
	id  proto.PeerID
	due time.Time
}

// New makes the upkeep of a node whose core is core. Marks or caps that
// cannot work are connmgr.Config.Validate's error; a book file that does
// not load is book.New's (book.ErrBadFile for a malformed one).
func New[R comparable](cfg Config, core Core[R]) (*Upkeep[R], error) {
	if cfg.Low > 0 && cfg.High == 0 {
		cfg.High = 2*cfg.Low + 2
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	u := &Upkeep[R]{
		cfg: cfg, core: core, log: cfg.Log,
		policy: connmgr.Config{
			Low: cfg.Low, High: cfg.High, Grace: cfg.Grace,
			MaxInbound: cfg.MaxInbound, MaxPerIP: cfg.MaxPerIP,
		},
		redials: make(map[R]*redial), queued: make(map[R]queued),
		asked: make(map[R]uint64), served: make(map[R]time.Time),
		keys: make(map[string]string), retiredUs: make(map[string]struct{}),
		lastSave: core.Now(),
	}
	if err := u.policy.Validate(); err != nil {
		return nil, err
	}
	if cfg.Low > 0 {
		b, err := book.New(book.Config{Path: cfg.BookPath, MaxPerSource: BookPerSource})
		if err != nil {
			return nil, err
		}
		u.book = b
	}
	return u, nil
}

// Start tells the upkeep the node's own address, once the core has bound
// it: it is never dialed from the book nor learned from a peer.
func (u *Upkeep[R]) Start(self string) {
	u.mu.Lock()
	u.self = self
	u.mu.Unlock()
}

// Book returns the address book; nil when discovery is off (Low 0).
func (u *Upkeep[R]) Book() *book.Book { return u.book }

// Save writes the book to its file, if it has one. One write of
// O(entries).
func (u *Upkeep[R]) Save() error {
	if u.book == nil {
		return nil
	}
	return u.book.Save()
}

// Tick runs the upkeep's timed work: due redials and the polls of those
// dialing, then, with discovery, a pex-request, the book's save, dials of
// learned peers below the low mark and the trim above the high mark. It
// reports whether anything is due soon (a redial dialing or due within
// Config.Quiet, or the degree outside the marks). One goroutine at a time.
func (u *Upkeep[R]) Tick(now time.Time) (busy bool) {
	busy = u.tickRedials(now)
	return u.tickDiscovery(now) || busy
}

// LinkUp records that route r has a live link to id: the book learns of
// it (dial-only peers, which cannot be dialed, excepted), a learned dial's
// key pin is done with, and a peer that trimmed our link is forgiven. Any
// goroutine; may run under the core's locks.
func (u *Upkeep[R]) LinkUp(r R, id proto.PeerID, dialOnly bool) {
	if u.book == nil || dialOnly {
		return
	}
	now := u.core.Now()
	u.mu.Lock()
	delete(u.keys, id.Addr) // the pin held: the core let this link through
	delete(u.retiredUs, id.Addr)
	u.mu.Unlock()
	src := book.Inbound
	if u.core.IsStatic(id.Addr) {
		src = book.Static
	}
	_ = u.book.Add(id, src, "", now)
	u.book.Connected(id.Addr, now)
}

// LinkDown records that route r at addr lost its live link. Any
// goroutine; may run under the core's locks.
func (u *Upkeep[R]) LinkDown(r R, addr string, dialOnly bool) {
	if u.book == nil {
		return
	}
	u.mu.Lock()
	delete(u.asked, r)
	delete(u.served, r)
	u.mu.Unlock()
	if !dialOnly {
		u.book.Disconnected(addr, u.core.Now())
	}
}

// Lost records that a link of route r to id closed; trimmedUs when the
// peer's goaway said it has too many links. A static route left without a
// link is redialed after the first backoff, or, when the peer trimmed us
// and the node has another link to go on with, after a jittered
// RedialMax, the time the book also leaves the peer alone. Any goroutine,
// not under the core's locks.
func (u *Upkeep[R]) Lost(r R, id proto.PeerID, trimmedUs bool) {
	addr := id.Addr
	wait := u.backoff(0)
	if trimmedUs {
		park := jitter(u.cfg.RedialMax)
		if u.book != nil {
			u.book.Park(addr, u.core.Now().Add(park))
			if u.core.IsStatic(addr) {
				u.mu.Lock()
				u.retiredUs[addr] = struct{}{}
				u.mu.Unlock()
			}
		}
		if len(u.core.Links()) > 0 {
			wait = park
		}
	}
	u.queue(r, id, wait)
}

// Redial schedules a redial of static route r to id after the first
// backoff: its first connect failed. Any goroutine.
func (u *Upkeep[R]) Redial(r R, id proto.PeerID) { u.queue(r, id, u.backoff(0)) }

// queue asks the next tick to redial r after wait, if it is a static
// route without a link. O(1): never waits for a tick's work.
func (u *Upkeep[R]) queue(r R, id proto.PeerID, wait time.Duration) {
	if got, linked, ok := u.core.Route(id.Addr); !ok || got != r || linked || !u.core.IsStatic(id.Addr) {
		return
	}
	due := u.core.Now().Add(wait)
	u.mu.Lock()
	if _, ok := u.queued[r]; !ok {
		u.queued[r] = queued{id: id, due: due}
	}
	u.mu.Unlock()
}

// RedialState is what PeerStates shows of a route's redial.
type RedialState struct {
	Due     time.Time // when the next dial starts
	Dialing bool      // a dial is in flight
	Learned bool      // a peer from the book, tried once
}

// Redials returns the redials scheduled or in flight, by route. O(redials).
func (u *Upkeep[R]) Redials() map[R]RedialState {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make(map[R]RedialState, len(u.redials)+len(u.queued))
	for r, d := range u.redials {
		out[r] = RedialState{Due: d.due, Dialing: d.dial != nil, Learned: d.learned}
	}
	for r, q := range u.queued { // asked for, not yet taken by a tick
		if _, ok := out[r]; !ok {
			out[r] = RedialState{Due: q.due}
		}
	}
	return out
}

// LearnedKey returns the key a learned dial to addr in flight expects: the
// core refuses another key at addr (the book pins what it was told). Any
// goroutine.
func (u *Upkeep[R]) LearnedKey(addr string) (string, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	k, ok := u.keys[addr]
	return k, ok
}

// Admit applies the inbound and per-IP caps to an inbound link from addr
// over a socket from ip. A static route, and a peer whose route has a link
// already (the new link replaces or duplicates it: no growth), are always
// admitted. A refusal is connmgr.ErrTooManyInbound or ErrTooManyPerIP,
// with the count: its text goes on the wire. O(links) while capped. Any
// goroutine; may run under the core's locks.
func (u *Upkeep[R]) Admit(addr string, ip netip.Addr) error {
	if u.policy.MaxInbound == 0 && u.policy.MaxPerIP == 0 {
		return nil
	}
	if _, linked, ok := u.core.Route(addr); ok && linked {
		return nil
	}
	return u.policy.Admit(policyLinks(u.core.Links()), ip, u.core.IsStatic(addr))
}

func policyLinks[R comparable](links []Link[R]) []connmgr.Link {
	out := make([]connmgr.Link, len(links))
	for i, l := range links {
		out[i] = l.Link
	}
	return out
}

// backoff is the wait before redial attempt number k (0-based): RedialBase
// doubled k times, at most RedialMax, ±20%.
func (u *Upkeep[R]) backoff(k int) time.Duration {
	d := u.cfg.RedialBase
	for i := 0; i < k && d < u.cfg.RedialMax; i++ {
		d *= 2
	}
	return jitter(min(d, u.cfg.RedialMax))
}

// jitter returns d ±20%.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}
