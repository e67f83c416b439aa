package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// With -client proc the reqrep load generator runs in a child process (kind
// "load"): the servers then own this process, so allocs/op and goroutines
// are the server's alone, and a server is woken by the kernel as it would
// be by a remote peer, not by a client goroutine sharing its scheduler.
var clientProc bool

// childSpec is what the parent hands the load child.
type childSpec struct {
	Addr     string        `json:"addr"`
	Peers    int           `json:"peers"`
	Inflight int           `json:"inflight"`
	Payload  int           `json:"payload"`
	Warmup   time.Duration `json:"warmup"`
	Duration time.Duration `json:"duration"`
}

// childResult is the load child's last line, "result".
type childResult struct {
	Ops       int64                  `json:"ops"`
	ElapsedNS int64                  `json:"elapsed_ns"`
	Hist      *hdrhistogram.Snapshot `json:"hist"`
	Errs      int64                  `json:"errs"`
	Err       string                 `json:"err"`
	Aborted   bool                   `json:"aborted"`
}

// loadChild runs the load; it says "rec" and "stop" as the recorded window
// opens and closes, then "result".
func loadChild(spec []byte, say func(string, any), _ *bufio.Scanner) error {
	var cs childSpec
	if err := json.Unmarshal(spec, &cs); err != nil {
		return err
	}
	sp := loadSpec{peers: cs.Peers, inflight: cs.Inflight, payload: cs.Payload, warmup: cs.Warmup, duration: cs.Duration}
	m, err := runLoadHere(cs.Addr, sp, func(ev string) { say(ev, nil) })
	var r childResult
	if m != nil {
		r.Ops, r.ElapsedNS, r.Errs, r.Aborted = m.ops, int64(m.st.elapsed), m.errs, m.st.aborted
		r.Hist = m.lat.export()
	}
	if err != nil {
		r.Err = err.Error()
	}
	say("result", &r)
	return nil
}

// runLoadProc runs the load generator in a child process and measures this
// process (the server's) over the child's recorded window.
func runLoadProc(addr string, sp loadSpec) (*measurement, error) {
	c, err := startChild("load", childSpec{addr, sp.peers, sp.inflight, sp.payload, sp.warmup, sp.duration},
		sp.warmup+sp.duration+60*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.wait()
	m := &measurement{}
	before := snapMem()
	var m0, m1 runtime.MemStats
	var cpu0 time.Duration
	var res *childResult
	for res == nil {
		ev, body, err := c.next()
		if err != nil {
			if werr := c.wait(); werr != nil {
				err = werr
			}
			return nil, err
		}
		switch ev {
		case "rec":
			runtime.ReadMemStats(&m0)
			cpu0 = processCPU()
		case "stop":
			m.st.cpu = processCPU() - cpu0
			runtime.ReadMemStats(&m1)
			m.st.mallocs = m1.Mallocs - m0.Mallocs
			m.st.goroutines = runtime.NumGoroutine() - before.Goroutines
			// The server's memory with every connection open and busy
			// (no collection first: what the OS sees under load).
			m.conns = sp.peers
			m.rssPerConn = (float64(readRSS()) - float64(before.RSS)) / float64(sp.peers)
			m.heapPerConn = (float64(m1.HeapInuse) - float64(before.Heap)) / float64(sp.peers)
		case "result":
			res = new(childResult)
			if err := json.Unmarshal(body, res); err != nil {
				return nil, fmt.Errorf("load child: %w", err)
			}
		}
	}
	if err := c.wait(); err != nil {
		return nil, err
	}
	m.ops, m.errs, m.st.elapsed, m.st.aborted = res.Ops, res.Errs, time.Duration(res.ElapsedNS), res.Aborted
	m.lat = importHist(res.Hist)
	if res.Err != "" {
		return m, errors.New(res.Err)
	}
	return m, nil
}
