package engine

import "runtime"

// goid returns the current goroutine's id, parsed from its stack header
// ("goroutine 42 [running]:"). About a microsecond; used to tell whether a
// blocking call comes from an event loop.
func goid() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	const prefix = len("goroutine ")
	var id uint64
	for i := prefix; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		id = id*10 + uint64(b[i]-'0')
	}
	return id
}

// The node's own goroutines, by what a blocking call made on them would do.
const (
	loopGoroutine   = 1 // an event loop: any blocking call deadlocks it
	workerGoroutine = 2 // a WithWorkers worker: only Shutdown waits for it
)

// callerKind reports which of the node's goroutines the caller is (loopGoroutine,
// workerGoroutine), or 0, inside a handler or an event callback. While none is
// running anywhere (the common case for a caller that only sends) it costs
// one atomic load.
func (n *Node) callerKind() int {
	if n.inCallback.Load() == 0 {
		return 0
	}
	kind, _ := n.ownGoroutines.Load(goid())
	k, _ := kind.(int)
	return k
}

// onLoop reports whether the caller runs on one of the node's event loops.
func (n *Node) onLoop() bool { return n.callerKind() == loopGoroutine }
