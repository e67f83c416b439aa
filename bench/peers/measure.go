package main

import (
	"github.com/antnet-p2p/antnet/internal/benchkit"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// hist is a latency histogram in nanoseconds, 100 ns to 60 s, two
// significant digits; recording does not allocate.
type hist struct{ h *hdrhistogram.Histogram }

func newHist() hist { return hist{hdrhistogram.New(100, int64(60*time.Second), 2)} }

func (h hist) record(d time.Duration) {
	_ = h.h.RecordValue(min(max(int64(d), 100), int64(60*time.Second)))
}

// us is the q-quantile in microseconds, 0 with no samples.
func (h hist) us(q float64) float64 {
	if h.h.TotalCount() == 0 {
		return 0
	}
	return float64(h.h.ValueAtQuantile(q*100)) / 1e3
}

// window is the clock of a timed load: workers run through the warm-up,
// then the recorded window, then stop (one atomic load per operation).
type window struct {
	recording, stop atomic.Bool
}

// usage is this process's counters at one instant.
type usage struct {
	at      time.Time
	cpu     time.Duration
	mallocs uint64
}

func readUsage() usage {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return usage{at: time.Now(), cpu: benchkit.ProcessCPU(), mallocs: ms.Mallocs}
}

// since is the usage from u to now.
func (u usage) since() (elapsed, cpu time.Duration, mallocs uint64) {
	v := readUsage()
	return v.at.Sub(u.at), v.cpu - u.cpu, v.mallocs - u.mallocs
}

// run sleeps through the warm-up, records for d, then stops the workers.
// It returns the process's usage over the recorded window.
func (w *window) run(warmup, d time.Duration) (elapsed, cpu time.Duration, mallocs uint64) {
	defer w.stop.Store(true)
	time.Sleep(warmup)
	u := readUsage()
	w.recording.Store(true)
	time.Sleep(d)
	w.recording.Store(false)
	return u.since()
}

// waitFor polls cond every 5ms until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}
