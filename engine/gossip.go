package engine

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/valyala/bytebufferpool"

	"github.com/antnet-p2p/antnet/broadcast"
	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/internal/config"
	"github.com/antnet-p2p/antnet/internal/link"
	"github.com/antnet-p2p/antnet/proto"
)

// Broadcast is the broadcast tenant's glue: package broadcast decides
// (the seen set, eager and lazy links, grafts); this file feeds it the
// frames and link changes and carries out its sends. A tree link is a
// route entry: persistent links that both ends agreed to run trees on
// (FlagTrees in hello and hello-ack) take prune, ihave and graft; every
// other link, and every short-mode route, floods.

// Broadcast sends msg to every node reachable from this one through its
// peers, directly or relayed, and returns the broadcast's id. Every node's
// handler sees it once, with ctx.Kind() == codec.KindGossip; this node's
// handler does not. Payloads travel on a spanning tree of the links, so
// each node is sent about one copy (see docs/PROTOCOL.md, "Broadcast
// trees"). It does not block, and may be called from a handler. In short
// mode every hop dials its peers (one connection per peer per hop).
// When it could go out on no link at all (no peer, or none connected) it
// returns the id with an error matching ErrNotConnected. A msg whose gossip
// frame (msg plus this node's ID and 26 bytes; 16 more on secure links)
// would exceed the max frame size fails with codec.ErrFrameTooLarge.
func (n *Node) Broadcast(msg []byte) (uint64, error) {
	if err := n.checkRunning(); err != nil {
		return 0, err
	}
	payload := proto.AppendGossipStamped(nil, n.id, time.Now(), msg)
	if err := n.linkEnv.CheckSize(len(payload)); err != nil {
		return 0, err
	}
	id := rand.Uint64() | 1 // never 0
	n.stats.GossipOriginated.Add(1)
	if n.tree.Originate(n.tree.sendAny, id, proto.FlagStamped, n.cfg.GossipTTL, payload) == 0 {
		return id, fmt.Errorf("%w: broadcast went out on no link (%d peers routed)", ErrNotConnected, n.routes.table.Len())
	}
	return id, nil
}

// treeTenant is the node's side of the broadcast tenant: the tree (its
// methods promoted), the timer its ticks run on, and the sender it uses
// off the loops.
type treeTenant struct {
	*broadcast.Tree[*routeEntry]
	n       *Node
	timer   *time.Timer                   // runs the tree's ticks when it asks
	sendAny broadcast.Sender[*routeEntry] // the tree's sends off the loops
}

// newTree makes the node's broadcast tree. Its ticks run on a timer the
// tree arms itself (only while it has something to do).
func (n *Node) newTree() error {
	tt := &n.tree
	tt.n = n
	cacheAge := min(10*time.Second, n.cfg.SeenWindow/2)
	t, err := broadcast.New[*routeEntry](broadcast.Config{
		SeenCapacity: max(n.cfg.SeenCapacity, 2),
		SeenWindow:   n.cfg.SeenWindow,
		CacheAge:     max(cacheAge, time.Millisecond),
		Wake:         tt.wake,
	})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadOption, err)
	}
	tt.Tree = t
	tt.timer = time.AfterFunc(time.Hour, tt.tick)
	tt.timer.Stop()
	tt.sendAny = func(e *routeEntry, frame []byte) bool { return tt.send(e, frame, nil) }
	return nil
}

// wake arms the tree's timer. Under the tree's lock.
func (tt *treeTenant) wake(d time.Duration) { tt.timer.Reset(d) }

// tick runs the tree's tick. The timer's goroutine only hands it to
// the event loop of one of the tree's links: there the frames it sends to
// that loop's links are queued and written with the loop's other writes,
// one wake for them all, where from the timer's goroutine each link it
// sends on would be woken apart. With no such link (short mode, no tree
// link up, a link closing) it runs on the timer's goroutine.
func (tt *treeTenant) tick() {
	n := tt.n
	if n.life.state.Load() != nodeRunning {
		return
	}
	if n.cfg.Mode != config.Short {
		if e, ok := tt.AnyLink(); ok {
			if pc, err := n.link(e); err == nil {
				if c := pc.Conn(); c != nil && c.Wake(tt.tickOnLoop) == nil {
					return
				}
			}
		}
	}
	tt.Tick(tt.sendAny)
}

// tickOnLoop is tick's callback on c's event loop. Loop.
func (tt *treeTenant) tickOnLoop(c gnet.Conn, _ error) error {
	if tt.n.life.state.Load() != nodeRunning {
		return nil
	}
	tt.Tick(tt.sender(tt.n.own.loopOf(c)))
	return nil
}

// send queues a frame the tree sends on route e. A link of the
// loop the tree was called on (on; nil: none) is written with that loop's
// other links once per poll (writeOnLoop). In short mode it dials e.
// Never blocks.
func (tt *treeTenant) send(e *routeEntry, frame []byte, on *loopState) bool {
	n := tt.n
	kind := codec.Kind(frame[5])
	if kind == codec.KindGossip {
		n.stats.GossipForwarded.Add(1)
	}
	ok := tt.write(e, frame, on)
	if !ok && kind == codec.KindGossip {
		n.stats.GossipForwarded.Add(^uint64(0)) // a counter never lags what a peer received
	}
	return ok
}

// write puts a tree frame on e's link, or dials e in short mode.
func (tt *treeTenant) write(e *routeEntry, frame []byte, on *loopState) bool {
	n := tt.n
	if n.cfg.Mode == config.Short {
		f, _, err := codec.Decode(frame, len(frame))
		if err != nil {
			return false
		}
		c := n.queueTo(e, f.Kind, f.Flags, f.TTL, f.ID, f.Payload)
		if c.err != nil {
			return false
		}
		a, err := n.dialAsync(c.pc)
		if err != nil {
			c.pc.abandon(err)
			return false
		}
		n.dialInBackground(a)
		return true
	}
	pc, err := n.link(e)
	if err != nil {
		return false
	}
	if on != nil && pc.ls == on {
		return pc.writeOnLoop(frame) == nil
	}
	return pc.write(frame) == nil
}

// sender returns the sender for frames the tree sends while it serves
// a frame on loop ls, made once per loop.
func (tt *treeTenant) sender(ls *loopState) broadcast.Sender[*routeEntry] {
	if ls.treeSend == nil {
		ls.treeSend = func(e *routeEntry, frame []byte) bool { return tt.send(e, frame, ls) }
	}
	return ls.treeSend
}

// treeLink is the tree's handle for the link pc: its route entry (in short
// mode, the route at the sender's address; nil when there is none).
func (pc *peerConn) treeLink() *routeEntry {
	n := pc.n
	if pc.entry != nil || n.cfg.Mode != config.Short {
		return pc.entry
	}
	return n.routes.table.Get(pc.peer.Addr)
}

// gossip handles a gossip frame that arrived on pc; an unparsable payload
// closes the link. Loop.
func (pc *peerConn) gossip(f *codec.Frame, w *bytebufferpool.ByteBuffer) gnet.Action {
	n := pc.n
	origin, body, err := proto.ParseGossip(f.Payload)
	var sent time.Time
	if err == nil && f.Flags&proto.FlagStamped != 0 {
		sent, body, err = proto.CutStamp(body)
	}
	if err != nil {
		return pc.violation(err)
	}
	if !n.tree.Gossip(n.tree.sender(pc.ls), pc.treeLink(), f.Flags, f.TTL, f.ID, f.Payload) {
		n.stats.GossipDuplicates.Add(1)
		if pc.Short() {
			pc.State.Mark(link.FlagCloseAfterReply)
		}
		return gnet.None
	}
	n.stats.GossipDelivered.Add(1)
	if f.TTL == 0 {
		n.stats.GossipExpired.Add(1)
	}
	if !sent.IsZero() {
		n.stats.BroadcastDelay.Observe(time.Since(sent)) // by two clocks: see BroadcastDelay
	}
	msg := *f
	msg.Payload = body
	pc.handle(&msg, origin, w)
	return gnet.None
}

// treeControl handles a prune, ihave or graft that arrived on pc; a
// malformed one closes the link. Loop.
func (pc *peerConn) treeControl(f *codec.Frame) gnet.Action {
	n := pc.n
	l := pc.treeLink()
	var err error
	switch f.Kind {
	case codec.KindPrune:
		err = n.tree.Prune(n.tree.sender(pc.ls), l, f.Payload)
	case codec.KindIHave:
		err = n.tree.IHave(n.tree.sender(pc.ls), l, f.Payload)
	case codec.KindGraft:
		err = n.tree.Graft(n.tree.sender(pc.ls), l, f.Payload)
	}
	if err != nil {
		return pc.violation(err)
	}
	return gnet.None
}

// BroadcastStats returns the broadcast tree's counters: payload copies
// and control frames sent, prunes, grafts, and its eager, lazy and
// flooding links now. It takes the tree's lock once.
func (n *Node) BroadcastStats() broadcast.Stats {
	return n.tree.Stats()
}
