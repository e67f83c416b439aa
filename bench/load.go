package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"runtime/pprof"
	"strconv"
	"sync"
	"time"

	"github.com/antnet-p2p/antnet/codec"
)

// loadSpec is one reqrep load: P connections, K requests in flight on each,
// S-byte payloads.
type loadSpec struct {
	peers, inflight, payload int
	warmup, duration         time.Duration
	proc                     bool // the load generator in a child process, whatever -client says
}

const loadDescription = "P conns × K in flight, Go net client (net.Conn + bufio), one goroutine per conn: " +
	"it writes K requests, then for every response read writes the next one, " +
	"flushing once per batch of responses read (closed loop, ids correlated per slot); " +
	"the client=proc row (10,000 conns, 500 with -quick) runs this load generator in a child process " +
	"and adds the server process's RSS and heap growth per conn under load (/proc/self/statm at the window's end " +
	"over a collected baseline before the dials)"

// measurement is what a worker pool brings back from a window.
type measurement struct {
	ops      int64
	lat      histTotal
	st       windowStats
	errs     int64
	firstErr error
	// With the load generator in a child process: its connections, and
	// the server process's RSS and heap growth per connection under load
	// (goroutines is then the growth too).
	conns                   int
	rssPerConn, heapPerConn float64
}

func (m *measurement) fail(err error) {
	if m.errs == 0 {
		m.firstErr = err
	}
	m.errs++
}

// fill writes m's figures into r.
func (m *measurement) fill(r *Result) {
	r.Ops = m.ops
	r.Seconds = m.st.elapsed.Seconds()
	r.Goroutines = m.st.goroutines
	if m.conns > 0 {
		r.Conns, r.BytesPerConn, r.HeapPerConn = m.conns, m.rssPerConn, m.heapPerConn
	}
	if m.st.elapsed > 0 {
		r.OpsPerSec = float64(m.ops) / m.st.elapsed.Seconds()
	}
	if m.ops > 0 {
		r.AllocsPerOp = float64(m.st.mallocs) / float64(m.ops)
		r.CPUusPerOp = float64(m.st.cpu) / 1e3 / float64(m.ops)
		r.P50us = float64(m.lat.quantile(0.50)) / 1e3
		r.P99us = float64(m.lat.quantile(0.99)) / 1e3
	}
}

// err summarises the failures, or nil.
func (m *measurement) err(what string) error {
	if m.errs == 0 {
		if m.st.aborted {
			return errors.New("every worker stopped before the window ended")
		}
		return nil
	}
	return fmt.Errorf("%d %s failed, first: %w", m.errs, what, m.firstErr)
}

// loadConn is one client connection of the load generator.
type loadConn struct {
	c    net.Conn
	fr   *frameReader
	bw   *bufio.Writer
	seq  []uint64 // per slot: sequence of the request in flight
	sent []int64  // per slot: when it was sent (window clock)
	hdr  [codec.HeaderSize]byte
	h    hist
	ops  int64
	err  error
}

// dialLoad connects and completes the hello exchange.
func dialLoad(addr string, i int, sp *loadSpec) (*loadConn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	size := bufSize(sp.payload, sp.inflight)
	lc := &loadConn{
		c:    c,
		fr:   newFrameReader(c, size),
		bw:   bufio.NewWriterSize(c, size),
		seq:  make([]uint64, sp.inflight),
		sent: make([]int64, sp.inflight),
	}
	// Each client introduces itself under its own address (its local
	// ephemeral port) so persistent servers see distinct peers.
	if err := introduce(c, lc.fr, lc.bw, "load"+strconv.Itoa(i)); err != nil {
		c.Close()
		return nil, err
	}
	return lc, nil
}

func (lc *loadConn) send(slot int, now int64, payload []byte) {
	lc.seq[slot]++
	id := lc.seq[slot]<<16 | uint64(slot)
	lc.sent[slot] = now
	codec.PutHeader(lc.hdr[:], codec.KindRequest, 0, 0, id, len(payload))
	_, _ = lc.bw.Write(lc.hdr[:])
	_, _ = lc.bw.Write(payload)
}

// run keeps K requests in flight until the window stops, then collects the
// answers still owed.
func (lc *loadConn) run(w *window, payload []byte) {
	k := len(lc.seq)
	now := w.now()
	for slot := 0; slot < k; slot++ {
		lc.send(slot, now, payload)
	}
	for outstanding := k; outstanding > 0; {
		f, fresh, err := lc.fr.next(lc.bw)
		if err != nil {
			lc.err = err
			return
		}
		if fresh {
			now = w.now()
		}
		if f.Kind != codec.KindResponse {
			lc.err = fmt.Errorf("got %s frame, want response", f.Kind)
			return
		}
		slot := int(f.ID & 0xffff)
		if slot >= k || f.ID>>16 != lc.seq[slot] {
			lc.err = fmt.Errorf("response with unexpected id %#x", f.ID)
			return
		}
		if len(f.Payload) != len(payload) {
			lc.err = fmt.Errorf("response payload %d bytes, want %d", len(f.Payload), len(payload))
			return
		}
		if w.recording.Load() {
			lc.h.record(now - lc.sent[slot])
			lc.ops++
		}
		if w.stop.Load() {
			outstanding--
			continue
		}
		lc.send(slot, now, payload)
	}
}

// runLoad drives the server at addr with sp and measures it, from this
// process or, with -client proc, from a child process.
func runLoad(addr string, sp loadSpec) (*measurement, error) {
	if clientProc || sp.proc {
		return runLoadProc(addr, sp)
	}
	return runLoadHere(addr, sp, nil)
}

// runLoadHere runs the load generator in this process; hook is passed to
// the window.
func runLoadHere(addr string, sp loadSpec, hook func(string)) (*measurement, error) {
	if sp.inflight < 1 || sp.inflight > 1<<16 {
		return nil, fmt.Errorf("in-flight %d out of range 1..65536", sp.inflight)
	}
	conns := make([]*loadConn, sp.peers)
	defer func() {
		for _, lc := range conns {
			if lc != nil {
				lc.c.Close()
			}
		}
	}()
	if _, err := dialAll(sp.peers, 64, func(i int) (err error) {
		conns[i], err = dialLoad(addr, i, &sp)
		return err
	}); err != nil {
		return nil, err
	}

	payload := make([]byte, sp.payload)
	_, _ = rand.Read(payload)
	w := newWindow()
	w.hook = hook
	done := make(chan struct{})
	var wg sync.WaitGroup
	pprof.Do(context.Background(), pprof.Labels("side", "client"), func(context.Context) {
		for _, lc := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				lc.run(w, payload)
			}()
		}
	})
	go func() { wg.Wait(); close(done) }()
	st := w.run(sp.warmup, sp.duration, done)
	// Bound the drain: a stalled server fails the row instead of hanging it.
	for _, lc := range conns {
		_ = lc.c.SetDeadline(time.Now().Add(5 * time.Second))
	}
	<-done

	m := &measurement{st: st}
	for _, lc := range conns {
		m.ops += lc.ops
		m.lat.add(&lc.h)
		if lc.err != nil {
			m.fail(lc.err)
		}
	}
	return m, m.err("connections")
}

// dialAll calls dial(i) for every i below n, at most limit at a time (a
// listener's backlog is finite), and returns how many failed and the first
// failure.
func dialAll(n, limit int, dial func(i int) error) (failed int, first error) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	sem := make(chan struct{}, max(limit, 1))
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := dial(i); err != nil {
				mu.Lock()
				if failed++; failed == 1 {
					first = fmt.Errorf("connect #%d: %w", i, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return failed, first
}
