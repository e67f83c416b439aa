package engine

import (
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/antnet-p2p/antnet/codec"
)

// Stalled loops. Handlers run on the event loop, so one that blocks holds
// every other link of its loop for as long. The loop times each callback
// (two clock reads per callback, not per frame); one that runs past the
// stall threshold (WithStallThreshold) is counted in Stats.LoopStalls and
// logged, at most once a second, with the loop, the callback, what ran in
// it (handler kinds, the admit and peer events callbacks) and for how long.

// defaultStallThreshold: a callback this long already delays every other
// peer of its loop past a LAN round trip hundreds of times over.
const defaultStallThreshold = 100 * time.Millisecond

// stallLogEvery is the most often a stall is logged; the others are
// counted, and the next line says how many went unlogged.
const stallLogEvery = time.Second

// What ran in a loop callback (loopState.ran), to name what stalled it.
const (
	ranRequest uint8 = 1 << iota
	ranNotice
	ranGossip
	ranAdmit
	ranEvents
)

// stallMsg is the message of a stall's log line.
const stallMsg = "event loop stalled: handlers must not block (use ctx.Defer or WithWorkers)"

// stallWatch times a node's loop callbacks and counts and logs, at most
// once per stallLogEvery, those that ran past the threshold. Its fields
// are set before the loops start; the atomics are shared by every loop.
type stallWatch struct {
	threshold time.Duration  // WithStallThreshold; 0: not watched
	count     *atomic.Uint64 // Stats.LoopStalls
	log       *slog.Logger

	last     atomic.Int64  // monoNow of the last line; 0 before the first
	unlogged atomic.Uint64 // stalls since then not logged
	every    atomic.Int64  // nanoseconds between two lines at least; 0: stallLogEvery (tests change it)
}

// markRan notes that a handler of kind k ran in the loop's callback. Loop.
func (ls *loopState) markRan(k codec.Kind) {
	switch k {
	case codec.KindRequest:
		ls.ran |= ranRequest
	case codec.KindNotice:
		ls.ran |= ranNotice
	case codec.KindGossip:
		ls.ran |= ranGossip
	}
}

// start starts timing a loop callback: its start (monoNow), or -1 when
// stalls are not watched. Loop.
func (w *stallWatch) start(ls *loopState) int64 {
	if w.threshold <= 0 {
		return -1
	}
	ls.ran = 0
	return monoNow()
}

// end counts and logs the callback that began at start if it ran past
// the stall threshold. Loop.
func (w *stallWatch) end(ls *loopState, callback string, start int64) {
	if start < 0 {
		return
	}
	now := monoNow()
	d := time.Duration(now - start)
	if d < w.threshold {
		return
	}
	w.count.Add(1)
	every := w.every.Load()
	if every == 0 {
		every = int64(stallLogEvery)
	}
	last := w.last.Load()
	if last != 0 && now-last < every || !w.last.CompareAndSwap(last, now) {
		w.unlogged.Add(1)
		return
	}
	w.log.Warn(stallMsg,
		"loop", ls.index, "callback", callback, "ran", ranNames(ls.ran), "took", d.Round(time.Millisecond),
		"threshold", w.threshold, "unlogged", w.unlogged.Swap(0))
}

// ranNames names what ran in a stalled callback.
func ranNames(ran uint8) string {
	var names []string
	for _, r := range []struct {
		bit  uint8
		name string
	}{{ranRequest, "request handler"}, {ranNotice, "notice handler"}, {ranGossip, "gossip handler"},
		{ranAdmit, "admit callback"}, {ranEvents, "peer events callback"}} {
		if ran&r.bit != 0 {
			names = append(names, r.name)
		}
	}
	if len(names) == 0 {
		return "no handler or callback: the engine itself"
	}
	return strings.Join(names, ", ")
}
