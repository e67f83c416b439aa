package engine

import "github.com/antnet-p2p/antnet/internal/goid"

// The node's own goroutines, by what a blocking call made on them would do.
const (
	loopGoroutine   = 1 // an event loop: any blocking call deadlocks it
	workerGoroutine = 2 // a WithWorkers worker: only Shutdown waits for it
	// Any other goroutine while it runs a WithPeerEvents or WithAdmit
	// callback (emit called from Delete on the user's goroutine): blocking
	// calls are refused as on a loop, so a callback behaves the same
	// wherever it runs.
	callbackGoroutine = 3
)

// callerKind reports which of the node's goroutines the caller is (loopGoroutine,
// workerGoroutine, callbackGoroutine), or 0, inside a handler or an event callback. While none is
// running anywhere (the common case for a caller that only sends) it costs
// one atomic load.
func (n *Node) callerKind() int {
	if n.inCallback.Load() == 0 {
		return 0
	}
	kind, _ := n.ownGoroutines.Load(goid.ID())
	k, _ := kind.(int)
	return k
}

// onLoop reports whether the caller runs on one of the node's event loops,
// or inside an event callback wherever it runs: a blocking call is refused.
func (n *Node) onLoop() bool {
	k := n.callerKind()
	return k == loopGoroutine || k == callbackGoroutine
}

// runCallback runs f, a user callback other than the handler (peer events,
// admission), named what in logs: blocking calls made inside it get
// ErrOnEventLoop, and a panic is recovered, counted in
// Stats.CallbackPanics, logged, and returned. On an event loop it marks ran
// (ranAdmit, ranEvents) in the loop's record, so a stall names it. Costs a
// goroutine-id lookup (about a microsecond).
func (n *Node) runCallback(what string, ran uint8, f func()) (panicked any) {
	n.inCallback.Add(1)
	id := goid.ID()
	prev, _ := n.ownGoroutines.Load(id)
	mark := prev != loopGoroutine
	if ls, ok := n.loopByGoroutine.Load(id); ok {
		ls.(*loopState).ran |= ran // on a loop: named if it stalls it
	}
	if mark {
		n.ownGoroutines.Store(id, callbackGoroutine)
	}
	defer func() {
		if mark {
			if prev == nil {
				n.ownGoroutines.Delete(id)
			} else {
				n.ownGoroutines.Store(id, prev)
			}
		}
		n.inCallback.Add(-1)
		if p := recover(); p != nil {
			panicked = p
			n.stats.callbackPanics.Add(1)
			n.log.Error("callback panicked", "callback", what, "panic", p)
		}
	}()
	f()
	return nil
}
