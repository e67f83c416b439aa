package engine

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/valyala/bytebufferpool"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/proto"
)

// Broadcast (gossip). The origin gives a message a random 64-bit id and a
// hop budget (ttl). A node that sees an id for the first time delivers it to
// its handler once and forwards it, ttl-1, to every peer but the one it came
// from; a node that has seen it drops it. ttl 0: deliver, do not forward.
// Copies race, and the first to reach a node may have come the long way
// round with little ttl left: a later copy with more ttl left is not
// delivered again but is forwarded again, with its better budget, so every
// node within the ttl's radius of the origin still gets the broadcast. A
// broadcast therefore costs one frame per direction of every link, plus
// deg-1 frames for each such re-forward (Stats.GossipReforwarded).

// Broadcast sends msg to every node reachable from this one through its
// peers, directly or relayed, and returns the broadcast's id. Every node's
// handler sees it once, with ctx.Kind() == codec.KindGossip; this node's
// handler does not. It does not block, and may be called from a handler. In
// short mode every hop dials its peers (one connection per peer per hop).
// When it could go out on no link at all (no peer, or none connected) it
// returns the id with an error matching ErrNotConnected. A msg whose gossip
// frame (msg plus this node's ID and 26 bytes; 16 more on secure links)
// would exceed the max frame size fails with codec.ErrFrameTooLarge.
func (n *Node) Broadcast(msg []byte) (uint64, error) {
	if err := n.checkRunning(); err != nil {
		return 0, err
	}
	payload := proto.AppendGossipStamped(nil, n.id, time.Now(), msg)
	if err := n.checkSize(len(payload)); err != nil {
		return 0, err
	}
	id := rand.Uint64() | 1 // never 0
	n.seen.sight(id, n.cfg.gossipTTL, n.now())
	n.stats.gossipOriginated.Add(1)
	if n.forward(nil, proto.FlagStamped, n.cfg.gossipTTL, id, payload, nil) == 0 {
		return id, fmt.Errorf("%w: broadcast went out on no link (%d peers routed)", ErrNotConnected, n.table.Len())
	}
	return id, nil
}

// gossip handles a gossip frame that arrived on pc; an unparsable payload
// closes the link. Loop.
func (n *Node) gossip(pc *peerConn, f *codec.Frame, w *bytebufferpool.ByteBuffer) gnet.Action {
	origin, body, err := proto.ParseGossip(f.Payload)
	var sent time.Time
	if err == nil && f.Flags&proto.FlagStamped != 0 {
		sent, body, err = proto.CutStamp(body)
	}
	if err != nil {
		return n.violation(pc, err)
	}
	first, better := n.seen.sight(f.ID, f.TTL, n.now())
	if !first {
		n.stats.gossipDuplicates.Add(1)
		if pc.short {
			pc.closeAfterReply.Store(true)
		}
		if better { // more budget than any copy before: it may reach further
			n.forward(pc, f.Flags, f.TTL-1, f.ID, f.Payload, &n.stats.gossipReforwarded)
		}
		return gnet.None
	}
	n.stats.gossipDelivered.Add(1)
	if !sent.IsZero() {
		n.broadcastDelay.observe(max(time.Since(sent), 0)) // by two clocks: see BroadcastDelay
	}
	msg := *f
	msg.Payload = body
	n.handle(pc, &msg, origin, w)
	if f.TTL == 0 {
		n.stats.gossipExpired.Add(1)
		return gnet.None
	}
	n.forward(pc, f.Flags, f.TTL-1, f.ID, f.Payload, nil)
	return gnet.None
}

// forward sends a gossip frame to every routed peer but from's (nil: none)
// and returns how many frames went out, counted in GossipForwarded and,
// when also is not nil, in also. A frame is counted before it is queued, so
// a counter never lags what a peer has received. Persistent mode encodes the
// frame once and queues the same bytes on each link; a link of from's own
// event loop (forward then runs on it) is not woken on its own but written
// with the loop's other such links once per poll (writeOnLoop). Any
// goroutine; never blocks.
func (n *Node) forward(from *peerConn, flags, ttl uint8, id uint64, payload []byte, also *atomic.Uint64) (sent int) {
	count := func(d uint64) {
		n.stats.gossipForwarded.Add(d)
		if also != nil {
			also.Add(d)
		}
	}
	const undo = ^uint64(0) // adds -1
	var skip string
	var on *loopState // the loop forward runs on
	if from != nil {
		skip, on = from.peer.Addr, from.ls
	}
	if n.cfg.mode == Short {
		for _, e := range n.table.All() {
			if e.ID.Addr == skip {
				continue
			}
			count(1)
			c := n.queueTo(e, codec.KindGossip, flags, ttl, id, payload)
			if c.err != nil {
				count(undo)
				continue
			}
			a, err := n.dialAsync(c.pc)
			if err != nil {
				c.pc.abandon(err)
				count(undo)
				continue
			}
			n.dialInBackground(a)
			sent++
		}
		return sent
	}
	frame := n.framePool.Get()
	frame.B = codec.AppendHeader(frame.B, codec.KindGossip, flags, ttl, id, len(payload))
	frame.B = append(frame.B, payload...)
	for _, e := range n.table.All() {
		if e.ID.Addr == skip {
			continue
		}
		pc, err := n.link(e)
		if err != nil {
			continue
		}
		count(1)
		if on != nil && pc.ls == on {
			err = pc.writeOnLoop(frame.B)
		} else {
			err = pc.write(frame.B)
		}
		if err != nil {
			count(undo)
			continue
		}
		sent++
	}
	n.framePool.Put(frame)
	return sent
}

// seenSet remembers broadcast ids, each with the most ttl any copy of it
// had, in two generations of at most half the capacity each. New ids go to
// the current generation; when it is full or older than the window it
// becomes the previous one and the old previous is dropped. An id is thus
// recognised for at least the window, unless more than half the capacity of
// new ids arrive first. Memory is bounded by the capacity: about 40 bytes
// per entry including map overhead.
type seenSet struct {
	mu        sync.Mutex
	cur, prev map[uint64]uint8 // id -> best ttl seen
	half      int
	window    time.Duration
	since     time.Time
}

func newSeenSet(capacity int, window time.Duration) *seenSet {
	half := max(capacity/2, 1)
	return &seenSet{cur: make(map[uint64]uint8), half: half, window: window, since: time.Now()}
}

// sight records a copy of id carrying ttl. first reports that id was new;
// better that it was known, but only from copies with less ttl left.
func (s *seenSet) sight(id uint64, ttl uint8, now time.Time) (first, better bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, gen := range [2]map[uint64]uint8{s.cur, s.prev} {
		if best, ok := gen[id]; ok {
			if ttl <= best {
				return false, false
			}
			gen[id] = ttl
			return false, true
		}
	}
	if len(s.cur) >= s.half || now.Sub(s.since) >= s.window {
		s.prev, s.cur = s.cur, make(map[uint64]uint8, len(s.cur))
		s.since = now
	}
	s.cur[id] = ttl
	return true, false
}

// len is the number of ids remembered.
func (s *seenSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.cur) + len(s.prev)
}
