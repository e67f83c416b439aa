package engine

import (
	"log/slog"
	"time"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/internal/stall"
)

// Stalled loops. Handlers run on the event loop, so one that blocks holds
// every other link of its loop for as long. Each callback is timed (two
// clock reads per callback, not per frame); internal/stall counts those
// past WithStallThreshold (Stats.LoopStalls) and picks at most one a
// second to log, named by loop, callback, what ran in it and how long.

// monoBase anchors monoNow.
var monoBase = time.Now()

// monoNow is a monotonic clock in nanoseconds: a stall's timing does not
// jump with the wall clock.
func monoNow() int64 { return int64(time.Since(monoBase)) }

// What ran in a loop callback (loopState.ran), to name what stalled it:
// bit i is the i-th of init's Names.
const (
	ranRequest uint8 = 1 << iota
	ranNotice
	ranGossip
	ranAdmit
	ranEvents
)

// stallMsg is the message of a stall's log line.
const stallMsg = "event loop stalled: handlers must not block (use ctx.Defer or WithWorkers)"

// stallWatch times the loops' callbacks and logs the stalls its Watch
// reports (internal/stall's Log). Set before the loops start (init).
type stallWatch struct{ stall.Log }

// init sets the threshold (0: off) and the lines to log.
func (w *stallWatch) init(threshold time.Duration, log *slog.Logger) {
	w.Threshold, w.Log.Log, w.Msg = threshold, log, stallMsg
	w.Names = []string{"request handler", "notice handler", "gossip handler", "admit callback", "peer events callback"}
	w.None = "no handler or callback: the engine itself"
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
	if !w.On() {
		return -1
	}
	ls.ran = 0
	return monoNow()
}

// end logs the callback begun at start if the watch reports it. Loop.
func (w *stallWatch) end(ls *loopState, callback string, start int64) {
	if start >= 0 {
		w.End(ls.index, callback, ls.ran, start, monoNow())
	}
}
