package engine

import (
	"log/slog"
	"strings"
	"time"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/internal/stall"
)

// Stalled loops. Handlers run on the event loop, so one that blocks holds
// every other link of its loop for as long. Each callback is timed (two
// clock reads per callback, not per frame); internal/stall counts those
// past WithStallThreshold (Stats.LoopStalls) and picks at most one a
// second to log, named by loop, callback, what ran in it and how long.

// defaultStallThreshold: a callback this long already delays every other
// peer of its loop past a LAN round trip hundreds of times over.
const defaultStallThreshold = 100 * time.Millisecond

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

// stallWatch times the loops' callbacks and logs the stalls its Watch
// reports. Set before the loops start.
type stallWatch struct {
	stall.Watch
	log *slog.Logger
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
	if start < 0 {
		return
	}
	if took, report, unlogged := w.End(start, monoNow()); report {
		w.log.Warn(stallMsg, "loop", ls.index, "callback", callback, "ran", ranNames(ls.ran),
			"took", took.Round(time.Millisecond), "threshold", w.Threshold, "unlogged", unlogged)
	}
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
