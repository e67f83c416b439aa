package main

import (
	"runtime"
	"sync/atomic"
	"time"
)

// window is the measurement clock every scenario shares: workers run through
// a warm-up (nothing recorded), then the recorded window, then stop. Workers
// poll recording and stop with one atomic load per batch.
type window struct {
	base      time.Time
	recording atomic.Bool
	stop      atomic.Bool
	// hook, if set, is called as the recorded window opens ("rec") and
	// closes ("stop"): a load generator in a child process tells its parent.
	hook func(event string)
}

func newWindow() *window { return &window{base: time.Now()} }

// now is monotonic nanoseconds since the window was made.
func (w *window) now() int64 { return int64(time.Since(w.base)) }

type windowStats struct {
	elapsed    time.Duration
	mallocs    uint64        // heap allocations in the recorded window, whole process
	cpu        time.Duration // user + system CPU time in the recorded window, whole process
	goroutines int           // sampled half-way through the window, whole process
	aborted    bool          // every worker ended before the window did
}

// run drives the phases and returns when the window is over and stop is set.
// done is closed when every worker has exited; an early close ends the
// window at once.
func (w *window) run(warmup, d time.Duration, done <-chan struct{}) windowStats {
	var st windowStats
	sleep := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-done:
			st.aborted = true
			return false
		}
	}
	defer w.stop.Store(true)
	if !sleep(warmup) {
		return st
	}
	var m0, m1 runtime.MemStats
	if w.hook != nil {
		w.hook("rec")
	}
	runtime.ReadMemStats(&m0)
	cpu0 := processCPU()
	t0 := time.Now()
	w.recording.Store(true)
	ok := sleep(d / 2)
	st.goroutines = runtime.NumGoroutine()
	if ok {
		sleep(d - d/2)
	}
	w.recording.Store(false)
	st.elapsed = time.Since(t0)
	st.cpu = processCPU() - cpu0
	runtime.ReadMemStats(&m1)
	st.mallocs = m1.Mallocs - m0.Mallocs
	if w.hook != nil {
		w.hook("stop")
	}
	return st
}
