package engine

import (
	"sync"
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"

	"github.com/antnet-p2p/antnet/internal/goid"
)

// The node's own goroutines, by what a blocking call made on them would do.
const (
	loopGoroutine   = 1 // an event loop: any blocking call deadlocks it
	workerGoroutine = 2 // a WithWorkers worker: only Shutdown waits for it
	// Any goroutine while it runs a WithPeerEvents or WithAdmit callback (a
	// user's, in Delete): blocking calls are refused there as on a loop.
	callbackGoroutine = 3
)

// goroutines knows the node's own goroutines (loops, workers, any running
// a user callback), so a blocking call on one is refused instead of
// deadlocking it, and each loop's reusable state. Safe for concurrent use.
type goroutines struct {
	running   atomic.Int32 // handlers and callbacks running now: while 0, callerKind is one load
	kinds     sync.Map     // goroutine id -> loopGoroutine, workerGoroutine or callbackGoroutine
	loops     sync.Map     // gnet.EventLoop -> *loopState
	loopByID  sync.Map     // goroutine id of each event loop -> its *loopState
	loopCount atomic.Int32 // loops seen: numbers each loopState
}

// callerKind returns the caller's kind (loopGoroutine...), or 0, while a
// handler or callback runs anywhere; else 0 for one atomic load.
func (g *goroutines) callerKind() int {
	if g.running.Load() == 0 {
		return 0
	}
	kind, _ := g.kinds.Load(goid.ID())
	k, _ := kind.(int)
	return k
}

// onLoop reports whether a blocking call by the caller is refused: on a
// loop, or in a callback.
func (g *goroutines) onLoop() bool {
	k := g.callerKind()
	return k == loopGoroutine || k == callbackGoroutine
}

// isLoop reports whether the caller is one of the node's event loops, in a
// callback or not. About a microsecond.
func (g *goroutines) isLoop() bool {
	kind, _ := g.kinds.Load(goid.ID())
	return kind == loopGoroutine
}

// loopOf returns c's event loop's state, creating it (and noting the loop's
// goroutine for ErrOnEventLoop) the first time. Loop.
func (g *goroutines) loopOf(c gnet.Conn) *loopState {
	el := c.EventLoop()
	if v, ok := g.loops.Load(el); ok {
		return v.(*loopState)
	}
	id := goid.ID()
	g.kinds.Store(id, loopGoroutine)
	v, _ := g.loops.LoadOrStore(el, &loopState{index: int(g.loopCount.Add(1)) - 1})
	g.loopByID.Store(id, v)
	return v.(*loopState)
}

// loop marks the caller as one of the node's loops until the returned
// func runs: the accept goroutine while it may serve short requests.
func (g *goroutines) loop() (done func()) {
	id := goid.ID()
	g.kinds.Store(id, loopGoroutine)
	return func() { g.kinds.Delete(id) }
}

// worker marks the caller as a WithWorkers worker until the returned func
// runs.
func (g *goroutines) worker() (done func()) {
	id := goid.ID()
	g.kinds.Store(id, workerGoroutine)
	return func() { g.kinds.Delete(id) }
}

// runCallback runs f, a user callback other than the handler, named what
// in logs. Blocking calls inside f get ErrOnEventLoop; a panic is
// recovered, counted (Stats.CallbackPanics), logged and returned; on a loop
// ran is marked, so a stall names it. Costs a goroutine-id lookup (~1 µs).
func (n *Node) runCallback(what string, ran uint8, f func()) (panicked any) {
	g := &n.own
	g.running.Add(1)
	id := goid.ID()
	prev, _ := g.kinds.Load(id)
	mark := prev != loopGoroutine
	if ls, ok := g.loopByID.Load(id); ok {
		ls.(*loopState).ran |= ran // on a loop: named if it stalls it
	}
	if mark {
		g.kinds.Store(id, callbackGoroutine)
	}
	defer func() {
		if mark {
			if prev == nil {
				g.kinds.Delete(id)
			} else {
				g.kinds.Store(id, prev)
			}
		}
		g.running.Add(-1)
		if p := recover(); p != nil {
			panicked = p
			n.stats.callbackPanics.Add(1)
			n.log.Error("callback panicked", "callback", what, "panic", p)
		}
	}()
	f()
	return nil
}
