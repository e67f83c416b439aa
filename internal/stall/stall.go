// Package stall watches callbacks that must not block (an event loop's):
// it counts those that ran past a threshold and says which to report, at
// most one per interval, each with the count of stalls left unreported
// since the last. No goroutine, no lock: the caller times the callback on
// its own monotonic clock, in nanoseconds, and passes the readings in.
package stall

import (
	"sync/atomic"
	"time"
)

// DefaultEvery is the least time between two reports unless SetEvery.
const DefaultEvery = time.Second

// Watch is one threshold and its counts. Set Threshold before first use;
// the zero Threshold watches nothing. Safe for concurrent use: a few
// atomics, no allocation.
type Watch struct {
	Threshold time.Duration

	count      atomic.Uint64
	last       atomic.Int64  // now of the last report; 0 before the first
	unreported atomic.Uint64 // stalls since then not reported
	every      atomic.Int64  // 0: DefaultEvery
}

// On reports whether callbacks are watched: if not, the caller need not
// read its clock.
func (w *Watch) On() bool { return w.Threshold > 0 }

// End takes a callback that ran from start to now. If it ran past the
// threshold it is counted, and report says whether to report it now, with
// unreported the stalls not reported since the last report.
func (w *Watch) End(start, now int64) (took time.Duration, report bool, unreported uint64) {
	took = time.Duration(now - start)
	if !w.On() || took < w.Threshold {
		return took, false, 0
	}
	w.count.Add(1)
	every := w.every.Load()
	if every == 0 {
		every = int64(DefaultEvery)
	}
	last := w.last.Load()
	if last != 0 && now-last < every || !w.last.CompareAndSwap(last, now) {
		w.unreported.Add(1)
		return took, false, 0
	}
	return took, true, w.unreported.Swap(0)
}

// Count returns the stalls counted so far.
func (w *Watch) Count() uint64 { return w.count.Load() }

// SetEvery sets the least time between two reports (0: DefaultEvery).
// Any time.
func (w *Watch) SetEvery(d time.Duration) { w.every.Store(int64(d)) }
