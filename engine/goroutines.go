package engine

import (
	"sync"
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"

	"github.com/antnet-p2p/antnet/internal/goid"
	"github.com/antnet-p2p/antnet/internal/gorole"
)

// The node's own goroutines, by what a blocking call made on them would do.
const (
	loopGoroutine   gorole.Role = 1 // an event loop: any blocking call deadlocks it
	workerGoroutine gorole.Role = 2 // a WithWorkers worker: only Shutdown waits for it
	// Any goroutine while it runs a WithPeerEvents or WithAdmit callback (a
	// user's, in Delete): blocking calls are refused there as on a loop.
	callbackGoroutine gorole.Role = 3
)

// goroutines knows the node's own goroutines (loops, workers, any running
// a user callback), so a blocking call on one is refused instead of
// deadlocking it, and each loop's reusable state. Handlers and callbacks
// run between Enter and Exit. Safe for concurrent use.
type goroutines struct {
	gorole.Set
	loops     sync.Map     // gnet.EventLoop -> *loopState
	loopByID  sync.Map     // goroutine id of each event loop -> its *loopState
	loopCount atomic.Int32 // loops seen: numbers each loopState
}

// onLoop reports whether a blocking call by the caller is refused: on a
// loop, or in a callback.
func (g *goroutines) onLoop() bool {
	r := g.Caller()
	return r == loopGoroutine || r == callbackGoroutine
}

// isLoop reports whether the caller is one of the node's event loops, in a
// callback or not. About a microsecond.
func (g *goroutines) isLoop() bool { return g.Of(goid.ID()) == loopGoroutine }

// loopOf returns c's event loop's state, creating it (and noting the loop's
// goroutine for ErrOnEventLoop) the first time. Loop.
func (g *goroutines) loopOf(c gnet.Conn) *loopState {
	el := c.EventLoop()
	if v, ok := g.loops.Load(el); ok {
		return v.(*loopState)
	}
	id := goid.ID()
	g.Put(id, loopGoroutine)
	v, _ := g.loops.LoadOrStore(el, &loopState{index: int(g.loopCount.Add(1)) - 1})
	g.loopByID.Store(id, v)
	return v.(*loopState)
}

// loop marks the caller as one of the node's loops until done runs: the
// accept goroutine while it may serve short requests.
func (g *goroutines) loop() (done func()) { return g.Mark(goid.ID(), loopGoroutine) }

// worker marks the caller as a WithWorkers worker until done runs.
func (g *goroutines) worker() (done func()) { return g.Mark(goid.ID(), workerGoroutine) }

// runCallback runs f, a user callback other than the handler, named what
// in logs. Blocking calls inside f get ErrOnEventLoop; a panic is
// recovered, counted (Stats.CallbackPanics), logged and returned; on a loop
// ran is marked, so a stall names it. Costs a goroutine-id lookup (~1 µs).
func (n *Node) runCallback(what string, ran uint8, f func()) (panicked any) {
	id := goid.ID()
	if ls, ok := n.own.loopByID.Load(id); ok {
		ls.(*loopState).ran |= ran // on a loop: named if it stalls it
	}
	if p := n.own.Callback(id, callbackGoroutine, loopGoroutine, f); p != nil {
		n.stats.CallbackPanics.Add(1)
		n.log.Error("callback panicked", "callback", what, "panic", p)
		return p
	}
	return nil
}
