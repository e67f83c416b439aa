package engine

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/valyala/bytebufferpool"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/proto"
)

// Broadcast (gossip). The origin gives a message a random 64-bit id and a
// hop budget (ttl). A node that sees an id for the first time delivers it to
// its handler once and forwards it, ttl-1, to every peer but the one it came
// from; a node that has seen it drops it. ttl 0: deliver, do not forward.
// A broadcast therefore costs at most one frame per direction of every link.

// Broadcast sends msg to every node reachable from this one through its
// peers, directly or relayed, and returns the broadcast's id. Every node's
// handler sees it once, with ctx.Kind() == codec.KindGossip; this node's
// handler does not. It does not block, and may be called from a handler. In
// short mode every hop dials its peers (one connection per peer per hop).
func (n *Node) Broadcast(msg []byte) (uint64, error) {
	if err := n.checkRunning(); err != nil {
		return 0, err
	}
	id := rand.Uint64() | 1 // never 0
	n.seen.firstSight(id, n.now())
	n.stats.gossipOriginated.Add(1)
	payload := proto.AppendGossip(nil, n.id, msg)
	n.forward("", n.cfg.gossipTTL, id, payload)
	return id, nil
}

// gossip handles a gossip frame that arrived on pc. Loop.
func (n *Node) gossip(pc *peerConn, f *codec.Frame, w *bytebufferpool.ByteBuffer) {
	origin, body, err := proto.ParseGossip(f.Payload)
	if err != nil {
		n.violation(pc, err)
		pc.close()
		return
	}
	if !n.seen.firstSight(f.ID, n.now()) {
		n.stats.gossipDuplicates.Add(1)
		if pc.short {
			pc.closeAfterReply.Store(true)
		}
		return
	}
	n.stats.gossipDelivered.Add(1)
	msg := *f
	msg.Payload = body
	n.handle(pc, &msg, origin, w)
	if f.TTL == 0 {
		n.stats.gossipExpired.Add(1)
		return
	}
	n.forward(pc.peer.Addr, f.TTL-1, f.ID, f.Payload)
}

// forward sends a gossip frame to every routed peer but the one at from.
// Persistent mode encodes the frame once and queues the same bytes on each
// link. Any goroutine; never blocks.
func (n *Node) forward(from string, ttl uint8, id uint64, payload []byte) {
	if n.cfg.mode == Short {
		for _, e := range n.table.All() {
			if e.ID.Addr == from {
				continue
			}
			c := n.queueTo(e, codec.KindGossip, ttl, id, payload)
			if c.err != nil {
				continue
			}
			a, err := n.dialAsync(c.pc)
			if err != nil {
				c.pc.abandon(err)
				continue
			}
			n.dialInBackground(a)
			n.stats.gossipForwarded.Add(1)
		}
		return
	}
	frame := n.framePool.Get()
	frame.B = codec.AppendHeader(frame.B, codec.KindGossip, 0, ttl, id, len(payload))
	frame.B = append(frame.B, payload...)
	for _, e := range n.table.All() {
		if e.ID.Addr == from {
			continue
		}
		pc, err := n.link(e)
		if err != nil {
			continue
		}
		if pc.write(frame.B) == nil {
			n.stats.gossipForwarded.Add(1)
		}
	}
	n.framePool.Put(frame)
}

// seenSet remembers broadcast ids in two generations of at most half the
// capacity each. New ids go to the current generation; when it is full or
// older than the window it becomes the previous one and the old previous is
// dropped. An id is thus recognised for at least the window, unless more than
// half the capacity of new ids arrive first. Memory is bounded by the
// capacity: about 40 bytes per entry including map overhead.
type seenSet struct {
	mu        sync.Mutex
	cur, prev map[uint64]struct{}
	half      int
	window    time.Duration
	since     time.Time
}

func newSeenSet(capacity int, window time.Duration) *seenSet {
	half := max(capacity/2, 1)
	return &seenSet{cur: make(map[uint64]struct{}), half: half, window: window, since: time.Now()}
}

// firstSight records id and reports whether it was new.
func (s *seenSet) firstSight(id uint64, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.cur[id]; ok {
		return false
	}
	if _, ok := s.prev[id]; ok {
		return false
	}
	if len(s.cur) >= s.half || now.Sub(s.since) >= s.window {
		s.prev, s.cur = s.cur, make(map[uint64]struct{}, len(s.cur))
		s.since = now
	}
	s.cur[id] = struct{}{}
	return true
}

// len is the number of ids remembered.
func (s *seenSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.cur) + len(s.prev)
}
