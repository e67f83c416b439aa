package stall

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const ms = int64(time.Millisecond)

func TestOffWatchesNothing(t *testing.T) {
	var w Watch
	if w.On() {
		t.Fatal("zero Threshold is on")
	}
	if _, report, _ := w.End(0, int64(time.Hour)); report || w.Count() != 0 {
		t.Fatalf("off watch reported %v, counted %d", report, w.Count())
	}
}

// On a fake clock: a stall at most every second is reported, the others
// counted, and the next report says how many were not.
func TestReportsAtMostOncePerIntervalWithTheUnreported(t *testing.T) {
	w := Watch{Threshold: 100 * time.Millisecond}
	now := int64(time.Hour)
	run := func(d int64) (time.Duration, bool, uint64) {
		start := now
		now += d
		return w.End(start, now)
	}
	if took, report, _ := run(99 * ms); report || took != 99*time.Millisecond || w.Count() != 0 {
		t.Fatalf("99ms under a 100ms threshold: report %v, count %d", report, w.Count())
	}
	if took, report, un := run(150 * ms); !report || un != 0 || took != 150*time.Millisecond {
		t.Fatalf("first stall: report %v, unreported %d, took %v", report, un, took)
	}
	for range 3 {
		if _, report, _ := run(200 * ms); report {
			t.Fatal("a stall within the interval reported")
		}
	}
	now += 500 * ms // 1.1 s since the first report
	if _, report, un := run(100 * ms); !report || un != 3 {
		t.Fatalf("stall past the interval: report %v, unreported %d, want true, 3", report, un)
	}
	if w.Count() != 5 {
		t.Fatalf("Count %d, want 5", w.Count())
	}
	w.SetEvery(time.Hour)
	now += int64(time.Minute)
	if _, report, _ := run(100 * ms); report {
		t.Fatal("reported within SetEvery(time.Hour)")
	}
}

// Callbacks of many loops stalling at once make one report.
func TestConcurrentStallsReportOnce(t *testing.T) {
	w := Watch{Threshold: time.Millisecond}
	var reports atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, report, _ := w.End(int64(time.Hour), int64(time.Hour)+2*ms); report {
				reports.Add(1)
			}
		}()
	}
	wg.Wait()
	if reports.Load() != 1 || w.Count() != 16 {
		t.Fatalf("%d reports (want 1), count %d (want 16)", reports.Load(), w.Count())
	}
}
