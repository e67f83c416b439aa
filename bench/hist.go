package main

import (
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies go into HdrHistograms, in nanoseconds from 100 ns to 60 s, with
// two significant digits (a quantile is within 1% of the true value).
// Recording does not allocate.
const (
	histLowest  = 100
	histHighest = int64(60 * time.Second)
	histDigits  = 2
)

// hist is one latency histogram; the zero value is empty and ready (the
// histogram is made at the first record, about 20 KiB).
type hist struct{ h *hdrhistogram.Histogram }

// histTotal is a histogram that others are added to.
type histTotal = hist

func (h *hist) record(ns int64) {
	if h.h == nil {
		h.h = hdrhistogram.New(histLowest, histHighest, histDigits)
	}
	_ = h.h.RecordValue(min(max(ns, 0), histHighest))
}

// add merges o's counts into h.
func (h *hist) add(o *hist) {
	if o.h == nil {
		return
	}
	if h.h == nil {
		h.h = hdrhistogram.New(histLowest, histHighest, histDigits)
	}
	h.h.Merge(o.h)
}

// quantile returns the q-quantile (0 < q <= 1), or 0 with no samples.
func (h *hist) quantile(q float64) time.Duration {
	if h.h == nil {
		return 0
	}
	return time.Duration(h.h.ValueAtQuantile(q * 100))
}

// export and importHist carry a histogram across the child-process protocol.
func (h *hist) export() *hdrhistogram.Snapshot {
	if h.h == nil {
		return nil
	}
	return h.h.Export()
}

func importHist(s *hdrhistogram.Snapshot) hist {
	if s == nil {
		return hist{}
	}
	return hist{hdrhistogram.Import(s)}
}
