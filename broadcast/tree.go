package broadcast

import (
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/proto"
)

// A Sender queues one whole frame (header included, plaintext) on link l
// and reports whether l took it. It is called with the tree's lock held:
// it must not block or call the tree, and must not keep frame.
type Sender[L comparable] func(l L, frame []byte) bool

// Tree is one node's broadcast state; L is the host's handle for a link
// (comparable: the tree keys its maps by it). See the package doc.
type Tree[L comparable] struct {
	mu    sync.Mutex
	cfg   Config
	links map[L]*link

	seen       seenSet
	cache      map[uint64]*held[L] // payloads that can still be sent
	fifo       []*held[L]          // cache entries, oldest first from fifoHead
	fifoHead   int
	cacheBytes int

	missing    map[uint64]*want[L] // ids announced to us, not yet received
	announcing bool                // some link has ids queued to announce
	busy       map[L]*linkBusy     // the links with ids going either way, or buckets refilling
	flushAt    time.Time           // when queued ids are announced
	quietAt    time.Time           // when the tick next looks for links gone quiet
	wakeAt     time.Time           // earliest Wake asked for, not yet ticked; zero: none

	stats    Stats
	upgrades atomic.Uint64 // Stats.Upgrades, read without the lock (Upgrades)

	due   []dueWant[L] // scratch for Tick
	score map[L]int    // scratch for Tick
	haves []proto.Have // scratch for IHave
	ids   []uint64     // scratch for Graft
	buf   []byte       // scratch for control frames
}

// link is the tree's view of one link: 8 bytes; a busy link also has a
// linkBusy in Tree.busy.
type link struct {
	trees   bool  // speaks prune, ihave and graft; else always eager, sent no control
	eager   bool  // payloads are pushed on it; else it is only announced ids
	pruned  bool  // lazy because this node pruned it (not the peer)
	keep    bool  // the tree's path here: a prune on it is answered with a graft (see Gossip)
	credit  bool  // may win a swap (see reparent): set when it comes up and by each first copy it brings
	missing int16 // missing ids it announced first (at most MaxMissingPerLink)
}

// linkBusy is what a link holds while ids go either way on it: made when
// it first queues an id or takes one, dropped by the tick once its queues
// are empty and its buckets full again (idle for a second).
type linkBusy struct {
	queue   []proto.Have
	due     time.Time // when queue must be announced: its earliest entry's deadline
	graft   []uint64  // ids to graft on it at this tick
	heard   bucket    // ids it announced: IHaveRate
	answers bucket    // payloads sent it for its grafts: GraftRate
}

// use returns l's queues and buckets, making them if it has none; the
// tick looks for quiet links a second after the first is made.
func (t *Tree[L]) use(l L, now time.Time) *linkBusy {
	b := t.busy[l]
	if b == nil {
		b = new(linkBusy)
		if len(t.busy) == 0 {
			t.quietAt = now.Add(time.Second)
			t.wake(t.quietAt, now)
		}
		t.busy[l] = b
	}
	return b
}

// quiet reports whether b holds nothing a new linkBusy would not: empty
// queues and full buckets.
func (b *linkBusy) quiet(now time.Time) bool {
	return len(b.queue) == 0 && len(b.graft) == 0 && b.heard.full(IHaveRate, now) && b.answers.full(GraftRate, now)
}

// held is a broadcast this node has: its frame as this node sends it, for
// pushes and graft answers while it is cached.
type held[L comparable] struct {
	id      uint64
	frame   []byte // the gossip frame; its ttl byte is carried-1
	carried int    // ttl of the best copy this node has (origin: its ttl+1)
	at      time.Time
	holders [maxHolders]holder[L] // inline: noting a holder allocates nothing
	nheld   uint8                 // holders in use
	stale   bool                  // the first copy came on a link this node had pruned
	kept    bool                  // parent is set
	parent  L                     // the link the copy with the most ttl came on: the tree's path here
	parentT int                   // the ttl that copy came with
}

// holder is a link known to have a broadcast, and the ttl its copy carried
// at least.
type holder[L comparable] struct {
	l       L
	carried int
}

// want is an id announced to this node that it has not received.
type want[L comparable] struct {
	announcers [maxAnnouncers]L
	ttls       [maxAnnouncers]uint8 // the ttl each announced
	best       int                  // the most ttl any announcement offered
	n          int
	tried      uint8 // bit i: announcers[i] was grafted
	first      *link // counts the id in its missing
	due        time.Time
	expires    time.Time
}

// dueWant is a want whose graft is due.
type dueWant[L comparable] struct {
	id uint64
	w  *want[L]
}

// ttlOffset is where the header keeps a frame's ttl.
const ttlOffset = 7

// upgradeWait is how many Config.AnnounceEvery a better budget for an id
// already announced waits at most to go out: it goes with the next
// announcements due sooner, so that it rarely costs a frame of its own.
const upgradeWait = 4

// expireSlack is how much later than Config.CacheAge a payload may be
// forgotten when no other call comes first.
const expireSlack = time.Second

// New returns a tree with no links. Defaults fill cfg's zero fields; a
// field out of range is ErrBadConfig.
func New[L comparable](cfg Config) (*Tree[L], error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Tree[L]{
		cfg:     cfg,
		links:   make(map[L]*link),
		busy:    make(map[L]*linkBusy),
		seen:    newSeenSet(cfg.SeenCapacity, cfg.SeenWindow, cfg.Now()),
		cache:   make(map[uint64]*held[L]),
		missing: make(map[uint64]*want[L]),
		score:   make(map[L]int),
	}, nil
}

// LinkUp adds link l, eager. trees says whether its peer speaks trees; a
// link that does not is sent every payload and no control frame. An l
// already up starts again as a new link.
func (t *Tree[L]) LinkUp(l L, trees bool) {
	t.mu.Lock()
	delete(t.busy, l)
	t.links[l] = &link{trees: trees, eager: true, credit: true}
	t.mu.Unlock()
}

// LinkDown forgets link l: it leaves both sets, and what was queued for it
// is dropped.
func (t *Tree[L]) LinkDown(l L) {
	t.mu.Lock()
	delete(t.busy, l)
	delete(t.links, l)
	t.mu.Unlock()
}

// Originate starts broadcast id: payload (a gossip payload) goes to every
// eager link with ttl, and id is announced on the lazy ones. It returns how
// many links it went out on or was queued for.
func (t *Tree[L]) Originate(send Sender[L], id uint64, flags, ttl uint8, payload []byte) int {
	now := t.cfg.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seen.sight(id, ttl, now)
	h := t.hold(id, flags, int(ttl)+1, payload, now)
	return t.spread(send, h, false, now)
}

// Gossip takes a gossip frame (its header fields and payload) that arrived
// on link from, and reports whether this node should deliver it: true
// once per id. A first copy is relayed on the tree; a copy of an id
// already seen prunes the link it came on, unless it carried more ttl than
// any before (then the better budget is announced onwards) or its sender
// keeps the link (it was sent or announced a copy with 2 more ttl). A
// pushed copy with more ttl than the one kept keeps its link instead (once
// per first copy that link brought), and the kept copy's link is pruned:
// the tree's paths are the fewest hops. from need not be a link the tree
// knows (a link being replaced, a short connection): nothing is pruned or
// remembered for it then.
func (t *Tree[L]) Gossip(send Sender[L], from L, flags, ttl uint8, id uint64, payload []byte) (deliver bool) {
	now := t.cfg.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	lk := t.links[from]
	first, better := t.seen.sight(id, ttl, now)
	if first {
		t.stats.Delivered++
		if ttl == 0 {
			t.stats.Expired++
		}
		h := t.hold(id, flags, int(ttl), payload, now)
		if lk != nil {
			h.note(from, int(ttl)+1)
			h.kept, h.parent, h.parentT = true, from, int(ttl)
			lk.credit = true
			// The sender pushes to us: it counts this link in its tree, and
			// so do we (a prune or graft crossing on the wire can leave the
			// two ends disagreeing), unless we pruned it: then this copy
			// left before our prune reached the sender, which is lazy now.
			if !lk.pruned {
				lk.eager = true
			} else {
				h.stale = true
			}
		}
		w := t.missing[id]
		if w != nil {
			// Announced before it came: the announcers have it.
			t.drop(id, w)
			for i := range w.n {
				h.note(w.announcers[i], int(w.ttls[i])+1)
			}
		}
		t.spread(send, h, false, now)
		if w != nil && w.best > h.carried {
			// An announcer offered a better budget than this copy carried:
			// relay it as an upgrade (announced, not pushed again).
			t.upgrade(send, h, w.best, now)
		}
		return true
	}
	t.stats.Duplicates++
	t.expire(now)
	h := t.cache[id]
	var relayed bool // this node relayed its own copy on from, or cannot tell
	var had int      // the most ttl from's copy was known to carry
	if h != nil && lk != nil {
		had, relayed = h.carriedBy(from)
		relayed = relayed || int(h.nheld) == maxHolders
		h.note(from, int(ttl)+1)
	}
	if better && h != nil && int(ttl) > h.carried {
		t.upgrade(send, h, int(ttl), now)
	}
	if lk != nil && lk.trees && lk.eager && lk.credit && h != nil && h.kept && from != h.parent && int(ttl) >= h.parentT+swapGain && t.reparent(send, h, from, lk, int(ttl), relayed) {
		return false
	}
	if better {
		return false
	}
	if lk != nil && lk.trees && lk.eager && h != nil && h.stale {
		// The first copy came on a link this node had pruned, pushed
		// before the prune reached its sender: this copy came the way
		// the tree carries it now. The link stays eager; and since this
		// node relayed the stale copy on it, its peer may take that for
		// a duplicate and prune it: a prune on it is answered with a
		// graft, which keeps it in the tree.
		lk.keep = true
		t.stats.StaleFirsts++
		return false
	}
	if had >= int(ttl)+1+swapGain {
		// from holds a copy with swapGain more ttl than the one it sent
		// here: it keeps this link (see reparent) and prunes its own
		// copy's, so this end stays eager.
		return false
	}
	if lk != nil && lk.trees && lk.eager && t.pushedBesides(lk) {
		// A copy we have: the sender pushes on this link and need not. Once:
		// while the prune travels, copies the sender pushed before it got
		// it are duplicates too (our end lazy, a prune on its way: the
		// sender makes its end eager again only on a graft or a first copy
		// from us, which come after the prune on the link). Never the last
		// link pushed on: with broadcasts from random origins crossing,
		// each link of a node can bring some broadcast's duplicate (the
		// first copy of one came on the link another's duplicate comes on),
		// and a node that pruned them all is cut off the tree, each later
		// broadcast grafted.
		lk.eager, lk.pruned, lk.keep = false, true, false // lazy here: a prune from the peer is taken
		t.stats.PrunesSent++
		t.control(send, from, codec.KindPrune, 0)
	}
	return false
}

// swapGain is how many more hops of ttl a pushed duplicate must carry than
// the copy a node kept for the node to keep the duplicate's link instead.
const swapGain = 1

// reparent makes from, an eager tree link that pushed a copy of h carrying
// ttl (swapGain more than the kept copy), the tree's path here: the link
// the kept copy came on is pruned, and from is marked if this node relayed
// its worse copy there (relayed), which from's end may take for a
// duplicate and prune. It reports false, and changes nothing, when the
// kept copy came on a link that floods (it cannot be pruned). A swap spends
// from's credit, which only a first copy on from earns back: ttl is not
// authenticated, and a peer echoing copies with a made-up ttl would
// otherwise make this node prune an honest link on every broadcast. Under
// mu.
func (t *Tree[L]) reparent(send Sender[L], h *held[L], from L, lk *link, ttl int, relayed bool) bool {
	if p := t.links[h.parent]; p != nil {
		if !p.trees {
			return false
		}
		if p.eager {
			p.eager, p.pruned, p.keep = false, true, false
			t.stats.PrunesSent++
			t.control(send, h.parent, codec.KindPrune, 0)
		}
	}
	h.parent, h.parentT = from, ttl
	lk.credit = false
	if relayed {
		lk.keep = true
	}
	t.stats.Reparents++
	return true
}

// regraft is the ids of a graft that asks for nothing: it only makes the
// link eager at its receiver.
var regraft = [1]uint64{0}

// Prune takes a prune payload from link from: from stops being eager,
// unless it is the tree's path after a stale first copy (see Gossip): then
// it is answered with a graft of id 0 and stays eager, once. A malformed
// one is proto.ErrBadTree (close the link).
func (t *Tree[L]) Prune(send Sender[L], from L, payload []byte) error {
	if err := proto.ParsePrune(payload); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	lk := t.treeLink(from)
	if lk == nil {
		return nil
	}
	t.stats.PrunesReceived++
	if lk.keep {
		// See Gossip: the peer pruned the tree's path to this node because
		// of a stale copy this node relayed. Graft it back (id 0, which no
		// broadcast has: the peer makes the link eager and sends nothing).
		lk.keep = false
		t.stats.Regrafts++
		t.graft(send, from, regraft[:])
		return nil
	}
	lk.eager = false
	return nil
}

// IHave takes an ihave payload from link from. An id not seen is waited
// for and grafted if its payload does not come within GraftTimeout; an id
// seen with less ttl than announced is re-announced with the better
// budget. A malformed payload is proto.ErrBadTree (close the link).
func (t *Tree[L]) IHave(send Sender[L], from L, payload []byte) error {
	now := t.cfg.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	haves, err := proto.ParseIHave(t.haves[:0], payload)
	t.haves = haves[:0]
	if err != nil {
		return err
	}
	lk := t.treeLink(from)
	if lk == nil {
		return nil
	}
	t.expire(now)
	for _, hv := range haves {
		if !t.use(from, now).heard.take(IHaveRate, now) {
			t.stats.IDsIgnored++
			continue
		}
		t.stats.IDsHeard++
		if _, ok := t.seen.best(hv.ID); ok {
			if h := t.cache[hv.ID]; h != nil {
				h.note(from, int(hv.TTL)+1)
				if int(hv.TTL) > h.carried {
					t.upgrade(send, h, int(hv.TTL), now)
				}
			}
			continue
		}
		t.miss(from, lk, hv.ID, hv.TTL, now)
	}
	return nil
}

// Graft takes a graft payload from link from: from becomes eager, and each
// id still cached with ttl to spare is sent it (at most GraftRate a
// second). A malformed payload is proto.ErrBadTree (close the link).
func (t *Tree[L]) Graft(send Sender[L], from L, payload []byte) error {
	now := t.cfg.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	ids, err := proto.ParseGraft(t.ids[:0], payload)
	t.ids = ids[:0]
	if err != nil {
		return err
	}
	lk := t.treeLink(from)
	if lk == nil {
		return nil
	}
	t.expire(now)
	lk.eager, lk.pruned = true, false
	for _, id := range ids {
		if id == 0 {
			continue // no broadcast has id 0: the graft only makes the link eager
		}
		t.stats.GraftsReceived++
		h := t.cache[id]
		if h == nil || h.carried < 1 || !t.use(from, now).answers.take(GraftRate, now) {
			t.stats.GraftsUnanswered++
			continue
		}
		if t.push(send, from, h) {
			t.stats.PayloadsGrafted++
		}
	}
	return nil
}

// stranger adds to w, as an announcer, a tree link that did not announce
// its id, when every announcer was tried or is gone (their links cut while
// the graft was out, say), and returns its index, or -1: such a link may
// have the broadcast still, or have got it before it came up. The most
// grafts an id costs stays maxAnnouncers. Eager links first.
func (t *Tree[L]) stranger(w *want[L]) int {
	if w.n == maxAnnouncers {
		return -1
	}
	var pick L
	found, eager := false, false
	for l, lk := range t.links {
		if !lk.trees || slices.Contains(w.announcers[:w.n], l) || (found && (eager || !lk.eager)) {
			continue
		}
		pick, found, eager = l, true, lk.eager
	}
	if !found {
		return -1
	}
	w.announcers[w.n] = pick
	w.n++
	return w.n - 1
}

// pushedBesides reports whether a link other than lk is pushed on: eager
// at this end, or flooding. Under mu.
func (t *Tree[L]) pushedBesides(lk *link) bool {
	for _, o := range t.links {
		if o != lk && (o.eager || !o.trees) {
			return true
		}
	}
	return false
}

// treeLink returns from's link if it speaks trees; a control frame from any
// other is counted as unsolicited and ignored. Under mu.
func (t *Tree[L]) treeLink(from L) *link {
	lk := t.links[from]
	if lk == nil || !lk.trees {
		t.stats.Unsolicited++
		return nil
	}
	return lk
}

// Tick grafts the announcers of ids whose payload is overdue, announces
// the ids queued on lazy links, and forgets payloads past CacheAge. The
// host calls it when Config.Wake asks (any goroutine).
func (t *Tree[L]) Tick(send Sender[L]) {
	now := t.cfg.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.wakeAt = time.Time{}
	t.expire(now)
	var next time.Time
	soonest := func(at time.Time) {
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	due := t.due[:0]
	for id, w := range t.missing {
		if !now.Before(w.expires) {
			t.stats.MissingExpired++
			t.drop(id, w)
			continue
		}
		if now.Before(w.due) {
			soonest(w.due)
			continue
		}
		due = append(due, dueWant[L]{id, w})
	}
	// Graft each overdue id from one of its announcers, preferring links
	// already eager, then those that can serve the most of them (every
	// graft makes a link eager, and each extra eager link is a cycle the
	// next broadcasts must prune), then the one offering the most ttl.
	clear(t.score)
	for _, d := range due {
		for i := range d.w.n {
			if lk := t.links[d.w.announcers[i]]; lk != nil && d.w.tried&(1<<i) == 0 {
				t.score[d.w.announcers[i]]++
			}
		}
	}
	grafting := false
	for _, d := range due {
		w, best, bestScore := d.w, -1, 0
		for i := range w.n {
			lk := t.links[w.announcers[i]]
			if lk == nil || w.tried&(1<<i) != 0 {
				continue
			}
			score := t.score[w.announcers[i]]
			if lk.eager {
				score += 1 << 20
			}
			// On a tie, the announcer offering the most ttl: the graft
			// attaches this node where the tree is shallowest.
			if score > bestScore || (best >= 0 && score == bestScore && w.ttls[i] > w.ttls[best]) {
				best, bestScore = i, score
			}
		}
		if best < 0 {
			best = t.stranger(w)
		}
		w.due = w.expires // no one left to ask: wait for an announcer, or expire
		if best >= 0 {
			if w.tried != 0 {
				t.stats.GraftRetries++
			}
			w.tried |= 1 << best
			lk := t.links[w.announcers[best]]
			b := t.use(w.announcers[best], now)
			b.graft = append(b.graft, d.id)
			lk.eager, lk.pruned = true, false
			w.due = now.Add(t.cfg.GraftRetry)
			grafting = true
		}
		soonest(w.due)
	}
	clear(due)
	t.due = due[:0]
	flush := t.announcing && !now.Before(t.flushAt)
	var later time.Time // the next link's queue due, after this flush
	if grafting || flush || (len(t.busy) > 0 && !now.Before(t.quietAt)) {
		for l, b := range t.busy {
			if len(b.graft) > 0 {
				t.sendGrafts(send, l, b)
			}
			if flush && len(b.queue) > 0 {
				if !now.Before(b.due) {
					t.announce(send, l, b)
				} else if later.IsZero() || b.due.Before(later) {
					later = b.due
				}
			}
			if b.quiet(now) {
				delete(t.busy, l)
			}
		}
		t.quietAt = now.Add(time.Second)
	}
	if len(t.busy) > 0 {
		soonest(t.quietAt)
	}
	if flush {
		t.announcing, t.flushAt = !later.IsZero(), later
	}
	if t.announcing {
		soonest(t.flushAt)
	}
	if t.fifoHead < len(t.fifo) {
		// Forgetting waits for a tick due anyway, or expireSlack: one tick
		// frees the payloads of many broadcasts, not one tick each. Every
		// call that uses the cache expires it first, so nothing older than
		// CacheAge is ever sent.
		soonest(t.fifo[t.fifoHead].at.Add(t.cfg.CacheAge + expireSlack))
	}
	if !next.IsZero() {
		t.wake(next, now)
	}
}

// AnyLink returns one of the tree's links that speaks trees, if it has
// one: a host that runs Tick on a link's event loop (so that the frames
// it sends go out with that loop's own writes) picks it with this.
func (t *Tree[L]) AnyLink() (l L, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for l, lk := range t.links {
		if lk.trees {
			return l, true
		}
	}
	return l, false
}

// Upgrades is Stats().Upgrades without the lock or the walk over the
// links: for a host whose own counters are polled often.
func (t *Tree[L]) Upgrades() uint64 { return t.upgrades.Load() }

// Stats returns the tree's counters and sizes. It walks the links under
// the tree's lock.
func (t *Tree[L]) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.stats
	s.Upgrades = t.upgrades.Load()
	for _, lk := range t.links {
		switch {
		case !lk.trees:
			s.FloodLinks++
		case lk.eager:
			s.EagerLinks++
		default:
			s.LazyLinks++
		}
	}
	s.Cached, s.CachedBytes = len(t.cache), t.cacheBytes
	s.Missing, s.Seen = len(t.missing), t.seen.len()
	return s
}

// hold caches a broadcast this node now has, as the frame it sends.
func (t *Tree[L]) hold(id uint64, flags uint8, carried int, payload []byte, now time.Time) *held[L] {
	frame := make([]byte, 0, codec.HeaderSize+len(payload))
	frame = codec.AppendHeader(frame, codec.KindGossip, flags, 0, id, len(payload))
	frame = append(frame, payload...)
	h := &held[L]{id: id, frame: frame, at: now}
	h.setCarried(carried)
	t.cache[id] = h
	t.fifo = append(t.fifo, h)
	t.cacheBytes += h.cost()
	t.expire(now)
	return h
}

// cost is what holding h counts against CacheBytes: its frame and its own
// bookkeeping, so that many tiny broadcasts are bounded too.
func (h *held[L]) cost() int { return len(h.frame) + int(unsafe.Sizeof(*h)) }

// expire forgets the oldest payloads while the cache is over CacheBytes
// or they are older than CacheAge.
func (t *Tree[L]) expire(now time.Time) {
	for t.fifoHead < len(t.fifo) {
		h := t.fifo[t.fifoHead]
		if t.cacheBytes <= t.cfg.CacheBytes && now.Sub(h.at) < t.cfg.CacheAge {
			break
		}
		t.fifo[t.fifoHead] = nil
		t.fifoHead++
		t.cacheBytes -= h.cost()
		delete(t.cache, h.id)
	}
	if t.fifoHead > 64 && t.fifoHead*2 > len(t.fifo) {
		n := copy(t.fifo, t.fifo[t.fifoHead:])
		clear(t.fifo[n:])
		t.fifo, t.fifoHead = t.fifo[:n], 0
	}
}

// spread relays h from this node: its payload to the eager links and those
// that only flood, its id to the lazy ones and to eager ones known to hold
// a copy (on an upgrade, to every link that speaks trees). Links known to
// hold as good a copy are skipped: the link a copy came on is noted as
// holding it, so it is skipped unless this node has since learned of a
// better budget. It returns the links it went
// out on or was queued for.
func (t *Tree[L]) spread(send Sender[L], h *held[L], upgrade bool, now time.Time) int {
	fwd := h.carried - 1
	if fwd < 0 {
		return 0
	}
	n := 0
	for l, lk := range t.links {
		if h.holds(l, fwd) {
			continue
		}
		// A tree link known to hold a copy with less ttl is announced the
		// better budget, not pushed the payload again: a second copy
		// would be a duplicate there, and its peer would prune the link
		// (the tree's own link, when this node relays from a copy that
		// ran out of ttl, as its parent pushed it).
		had, has := h.carriedBy(l)
		if !lk.trees || (lk.eager && !upgrade && !has) {
			if t.push(send, l, h) {
				n++
			}
			continue
		}
		n++
		b := t.use(l, now)
		if i := slices.IndexFunc(b.queue, func(q proto.Have) bool { return q.ID == h.id }); i >= 0 {
			b.queue[i].TTL = max(b.queue[i].TTL, uint8(min(fwd, 255))) // an upgrade before the flush: one entry
			continue
		}
		b.queue = append(b.queue, proto.Have{ID: h.id, TTL: uint8(min(fwd, 255))})
		if len(b.queue) == proto.MaxTreeIDs {
			t.announce(send, l, b)
			continue
		}
		// A better budget for an id announced before need not go out at
		// once: it waits upgradeWait flushes, or goes sooner with an id
		// due on the same link. A link sent only such budgets (an eager
		// one, say) thus gets them several broadcasts to a frame. But a
		// link whose copy carried ttl 0 relayed it to no one: the nodes
		// past it wait for this budget, which goes with the next flush.
		at := now.Add(t.cfg.AnnounceEvery)
		if upgrade && (!has || had >= 1) {
			at = now.Add(upgradeWait * t.cfg.AnnounceEvery)
		}
		if b.due.IsZero() || at.Before(b.due) {
			b.due = at
		}
		if !t.announcing || at.Before(t.flushAt) {
			t.announcing = true
			t.flushAt = at
			t.wake(t.flushAt, now)
		}
	}
	return n
}

// upgrade records that a copy of h with carried ttl exists and relays the
// better budget.
func (t *Tree[L]) upgrade(send Sender[L], h *held[L], carried int, now time.Time) {
	t.upgrades.Add(1)
	relayed := h.carried >= 1
	h.setCarried(carried)
	t.seen.raise(h.id, uint8(min(carried, 255)))
	// A node whose copy could go no further relayed nothing: it relays
	// now as on a first copy, pushed at once on its eager links, rather
	// than announcing the budget and leaving its tree children to graft.
	t.spread(send, h, relayed, now)
}

// push sends h's payload on l.
func (t *Tree[L]) push(send Sender[L], l L, h *held[L]) bool {
	if !send(l, h.frame) {
		return false
	}
	t.stats.PayloadsSent++
	t.stats.PayloadBytes += uint64(len(h.frame))
	h.note(l, h.carried-1)
	return true
}

// announce sends l the ids queued for it, in ihaves of up to MaxTreeIDs,
// leaving out those l is known to hold already.
func (t *Tree[L]) announce(send Sender[L], l L, b *linkBusy) {
	b.due = time.Time{}
	q := b.queue[:0]
	for _, hv := range b.queue {
		if h := t.cache[hv.ID]; h != nil && h.holds(l, int(hv.TTL)) {
			continue
		}
		q = append(q, hv)
	}
	b.queue = b.queue[:0]
	for len(q) > 0 {
		chunk := q[:min(len(q), proto.MaxTreeIDs)]
		q = q[len(chunk):]
		t.buf = codec.AppendHeader(t.buf[:0], codec.KindIHave, 0, 0, 0, proto.IHaveSize(len(chunk)))
		t.buf = proto.AppendIHave(t.buf, chunk)
		if send(l, t.buf) {
			t.stats.IHavesSent++
			t.stats.IDsAnnounced += uint64(len(chunk))
			t.stats.ControlBytes += uint64(len(t.buf))
		}
	}
}

// sendGrafts sends l the ids grafted on it this tick.
func (t *Tree[L]) sendGrafts(send Sender[L], l L, b *linkBusy) {
	q := b.graft
	b.graft = b.graft[:0]
	for len(q) > 0 {
		chunk := q[:min(len(q), proto.MaxTreeIDs)]
		q = q[len(chunk):]
		if t.graft(send, l, chunk) {
			t.stats.GraftsSent += uint64(len(chunk))
		}
	}
}

// graft sends l one graft frame of ids (at most proto.MaxTreeIDs) and
// reports whether it went.
func (t *Tree[L]) graft(send Sender[L], l L, ids []uint64) bool {
	t.buf = codec.AppendHeader(t.buf[:0], codec.KindGraft, 0, 0, 0, proto.GraftSize(len(ids)))
	t.buf = proto.AppendGraft(t.buf, ids)
	if !send(l, t.buf) {
		return false
	}
	t.stats.ControlBytes += uint64(len(t.buf))
	return true
}

// control sends l a control frame with an empty payload.
func (t *Tree[L]) control(send Sender[L], l L, kind codec.Kind, id uint64) {
	t.buf = codec.AppendHeader(t.buf[:0], kind, 0, 0, id, 0)
	if send(l, t.buf) {
		t.stats.ControlBytes += uint64(len(t.buf))
	}
}

// miss notes that from announced id, which this node has not received:
// its payload is grafted from an announcer if it does not come within
// GraftTimeout.
func (t *Tree[L]) miss(from L, lk *link, id uint64, ttl uint8, now time.Time) {
	w := t.missing[id]
	if w == nil {
		if len(t.missing) >= MaxMissing || lk.missing >= MaxMissingPerLink {
			t.stats.IDsIgnored++
			return
		}
		// The timeout is spread over [GraftTimeout, 1.5 GraftTimeout): when a
		// cut leaves a subtree without its eager copy, its nodes all hear
		// the id at about the same time; the first to graft repairs the
		// subtree before most of the others' timers fire.
		due := now.Add(t.cfg.GraftTimeout + rand.N(t.cfg.GraftTimeout/2+1))
		w = &want[L]{first: lk, due: due, expires: now.Add(t.cfg.CacheAge)}
		lk.missing++
		t.missing[id] = w
		t.wake(w.due, now)
	}
	w.best = max(w.best, int(ttl))
	for i := range w.n {
		if w.announcers[i] == from {
			w.ttls[i] = max(w.ttls[i], ttl)
			return
		}
	}
	if w.n == maxAnnouncers {
		return
	}
	w.announcers[w.n] = from
	w.ttls[w.n] = ttl
	w.n++
	if w.tried != 0 && w.tried == 1<<(w.n-1)-1 { // every earlier announcer was tried: this one next
		w.due = now
		t.wake(now, now)
	}
}

// drop stops waiting for id.
func (t *Tree[L]) drop(id uint64, w *want[L]) {
	delete(t.missing, id)
	w.first.missing--
}

// wake asks the host for a tick at at, unless one is asked for sooner.
func (t *Tree[L]) wake(at, now time.Time) {
	if t.cfg.Wake == nil || (!t.wakeAt.IsZero() && !at.Before(t.wakeAt)) {
		return
	}
	t.wakeAt = at
	t.cfg.Wake(max(at.Sub(now), 0))
}

// setCarried records the ttl of h's best copy and sets the ttl its frame
// carries onwards.
func (h *held[L]) setCarried(carried int) {
	h.carried = carried
	h.frame[ttlOffset] = uint8(min(max(carried-1, 0), 255))
}

// note records that l holds a copy of h carrying at least carried.
func (h *held[L]) note(l L, carried int) {
	for i := range h.holders[:h.nheld] {
		if h.holders[i].l == l {
			h.holders[i].carried = max(h.holders[i].carried, carried)
			return
		}
	}
	if int(h.nheld) < maxHolders {
		h.holders[h.nheld] = holder[L]{l, carried}
		h.nheld++
	}
}

// carriedBy reports whether l is known to hold a copy of h, whatever its
// ttl, and the most ttl that copy is known to carry.
func (h *held[L]) carriedBy(l L) (carried int, ok bool) {
	for _, o := range h.holders[:h.nheld] {
		if o.l == l {
			return o.carried, true
		}
	}
	return 0, false
}

// holds reports whether l is known to hold a copy carrying at least ttl.
func (h *held[L]) holds(l L, ttl int) bool {
	carried, ok := h.carriedBy(l)
	return ok && carried >= ttl
}
