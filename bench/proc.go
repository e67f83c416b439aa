package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// With -client proc the reqrep load generator runs in a child process (this
// binary, re-executed with -loadgen-child): the servers then own this
// process, so allocs/op and goroutines are the server's alone, and a server
// is woken by the kernel as it would be by a remote peer, not by a client
// goroutine sharing its scheduler.
var clientProc bool

// childSpec is what the parent hands the child.
type childSpec struct {
	Addr     string        `json:"addr"`
	Peers    int           `json:"peers"`
	Inflight int           `json:"inflight"`
	Payload  int           `json:"payload"`
	Warmup   time.Duration `json:"warmup"`
	Duration time.Duration `json:"duration"`
}

// childResult is the child's last line.
type childResult struct {
	Ops       int64       `json:"ops"`
	ElapsedNS int64       `json:"elapsed_ns"`
	Hist      [][2]uint64 `json:"hist"` // bucket, count (non-zero buckets)
	Errs      int64       `json:"errs"`
	Err       string      `json:"err"`
	Aborted   bool        `json:"aborted"`
}

// loadChild is the child's main: run the load, report on stdout.
func loadChild(arg string) {
	var cs childSpec
	if err := json.Unmarshal([]byte(arg), &cs); err != nil {
		fatalf("loadgen-child: %v", err)
	}
	raiseNoFile()
	out := bufio.NewWriter(os.Stdout)
	hook := func(ev string) {
		fmt.Fprintln(out, ev)
		out.Flush()
	}
	sp := loadSpec{peers: cs.Peers, inflight: cs.Inflight, payload: cs.Payload, warmup: cs.Warmup, duration: cs.Duration}
	m, err := runLoadHere(cs.Addr, sp, hook)
	var r childResult
	if m != nil {
		r.Ops, r.ElapsedNS, r.Errs, r.Aborted = m.ops, int64(m.st.elapsed), m.errs, m.st.aborted
		for i, c := range m.lat.counts {
			if c > 0 {
				r.Hist = append(r.Hist, [2]uint64{uint64(i), c})
			}
		}
	}
	if err != nil {
		r.Err = err.Error()
	}
	b, _ := json.Marshal(r)
	fmt.Fprintf(out, "result %s\n", b)
	out.Flush()
}

// runLoadProc runs the load generator in a child process and measures this
// process (the server's) allocations over the child's recorded window.
func runLoadProc(addr string, sp loadSpec) (*measurement, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	spec, _ := json.Marshal(childSpec{addr, sp.peers, sp.inflight, sp.payload, sp.warmup, sp.duration})
	cmd := exec.Command(exe, "-loadgen-child", string(spec))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	// Whatever happens, the child does not outlive the row.
	timer := time.AfterFunc(sp.warmup+sp.duration+60*time.Second, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()

	m := &measurement{}
	before := snapMem()
	var m0, m1 runtime.MemStats
	var cpu0 time.Duration
	var res *childResult
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "rec":
			runtime.ReadMemStats(&m0)
			cpu0 = processCPU()
		case line == "stop":
			m.st.cpu = processCPU() - cpu0
			runtime.ReadMemStats(&m1)
			m.st.mallocs = m1.Mallocs - m0.Mallocs
			m.st.goroutines = runtime.NumGoroutine()
			// The server's memory with every connection open and busy
			// (no collection first: what the OS sees under load).
			m.conns = sp.peers
			m.rssPerConn = (float64(readRSS()) - float64(before.rss)) / float64(sp.peers)
			m.heapPerConn = (float64(m1.HeapInuse) - float64(before.heap)) / float64(sp.peers)
			m.st.goroutines -= before.goroutines
		case strings.HasPrefix(line, "result "):
			res = new(childResult)
			if err := json.Unmarshal([]byte(line[len("result "):]), res); err != nil {
				res = nil
			}
		}
	}
	werr := cmd.Wait()
	if res == nil {
		if werr == nil {
			werr = errors.New("no result")
		}
		return nil, fmt.Errorf("load child: %w", werr)
	}
	m.ops, m.errs, m.st.elapsed, m.st.aborted = res.Ops, res.Errs, time.Duration(res.ElapsedNS), res.Aborted
	for _, b := range res.Hist {
		if b[0] < histBuckets {
			m.lat.counts[b[0]] += b[1]
			m.lat.n += b[1]
		}
	}
	if res.Err != "" {
		return m, errors.New(res.Err)
	}
	return m, nil
}
