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

// onLoop reports whether the caller runs on one of the node's event loops,
// inside a handler or an event callback. While none is running anywhere
// (the common case for a caller that only sends) it costs one atomic load.
func (n *Node) onLoop() bool {
	if n.inCallback.Load() == 0 {
		return false
	}
	_, ok := n.loops.Load(goid())
	return ok
}

// onWorker reports whether the caller is one of the node's workers
// (WithWorkers), which Shutdown waits for.
func (n *Node) onWorker() bool {
	if n.inCallback.Load() == 0 {
		return false
	}
	_, ok := n.workerIDs.Load(goid())
	return ok
}
