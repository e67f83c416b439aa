package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/engine"
)

// callSpec is a load of G calling goroutines, each making one blocking call
// at a time through a client API.
type callSpec struct {
	callers, payload int
	warmup, duration time.Duration
}

const nodeDescription = "G goroutines on one client calling the server in a loop, one blocking call each " +
	"(antnet: a client engine.Node, AddRoute then DispatchAppend over its one link; " +
	"goroutine: one net.Conn, callers queue their frames for a writer goroutine that writes all it has " +
	"with one syscall (concurrent callers share writes, as in yamux), and a reader goroutine " +
	"handing responses to waiting callers by id)"

// caller is a blocking request/response API: the reply is appended to dst.
type caller interface {
	call(msg, dst []byte) ([]byte, error)
}

// shared hands the same caller to every goroutine.
func shared(c caller) func(int) caller { return func(int) caller { return c } }

// runCallers drives sp.callers goroutines, goroutine i calling through
// mk(i), and measures the calls. A failed call is counted and the caller
// goes on; 100 failures in a row stop it.
func runCallers(mk func(i int) caller, sp callSpec) *measurement {
	msg := make([]byte, sp.payload)
	_, _ = rand.Read(msg)
	type worker struct {
		h    hist
		ops  int64
		errs int64
		err  error
	}
	workers := make([]worker, sp.callers)
	w := newWindow()
	var wg sync.WaitGroup
	done := make(chan struct{})
	pprof.Do(context.Background(), pprof.Labels("side", "client"), func(context.Context) {
		for i := range workers {
			wk := &workers[i]
			c := mk(i)
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, 0, sp.payload)
				for run := 0; !w.stop.Load(); {
					t0 := w.now()
					reply, err := c.call(msg, buf[:0])
					t1 := w.now()
					if err == nil && len(reply) != len(msg) {
						err = fmt.Errorf("reply %d bytes, want %d", len(reply), len(msg))
					}
					if err != nil {
						if wk.errs == 0 {
							wk.err = err
						}
						wk.errs++
						if run++; run >= 100 {
							return
						}
						time.Sleep(time.Millisecond)
						continue
					}
					run = 0
					if w.recording.Load() {
						wk.h.record(t1 - t0)
						wk.ops++
					}
				}
			}()
		}
	})
	go func() { wg.Wait(); close(done) }()
	st := w.run(sp.warmup, sp.duration, done)
	<-done
	m := &measurement{st: st}
	for i := range workers {
		m.ops += workers[i].ops
		m.lat.add(&workers[i].h)
		if workers[i].errs > 0 {
			if m.errs == 0 {
				m.firstErr = workers[i].err
			}
			m.errs += workers[i].errs
		}
	}
	return m
}

// ---- antnet node client ----------------------------------------------------

type nodeCaller struct {
	n    *engine.Node
	peer string
}

func (c *nodeCaller) call(msg, dst []byte) ([]byte, error) {
	return c.n.DispatchAppend(context.Background(), c.peer, msg, dst)
}

// startClientNode starts a client node (label side=client) and adds the
// route to the server named name at addr.
func startClientNode(name, addr string, opts ...engine.Option) (n *engine.Node, err error) {
	return startClientNodeImpl(implAntnet, name, addr, opts...)
}

// startClientNodeImpl is startClientNode labelled impl=impl.
func startClientNodeImpl(impl, name, addr string, opts ...engine.Option) (n *engine.Node, err error) {
	opts = append([]engine.Option{engine.WithEventLoops(runtime.GOMAXPROCS(0))}, opts...)
	pprof.Do(context.Background(), pprof.Labels("side", "client", "impl", impl), func(context.Context) {
		n, err = engine.New("client", "127.0.0.1:0", nil, opts...)
		if err != nil {
			return
		}
		if err = n.Start(); err != nil {
			return
		}
		if err = n.AddRoute(name, addr); err != nil {
			n.Close()
		}
	})
	return n, err
}

// nodeReqRep: a client node dispatches to an antnet server node.
func nodeReqRep(sp callSpec, r *Result) error {
	s, err := startServer(implAntnet, serverOpts{})
	if err != nil {
		return err
	}
	defer closeServer(s, r)
	n, err := startClientNode("server", s.Addr())
	if err != nil {
		return fmt.Errorf("client node: %w", err)
	}
	defer closeNamed("client node", n.Close, r)
	m := runCallers(shared(&nodeCaller{n: n, peer: "server@" + s.Addr()}), sp)
	m.fill(r)
	return m.err("calls")
}

// ---- goroutine baseline's multiplexing client ------------------------------

// muxClient is the goroutine design's client, written as a careful one
// would be (yamux's shape): one net.Conn shared by every caller; callers
// append their frames to a queue, and a writer goroutine writes whatever
// has queued with one write, so concurrent callers share syscalls; a reader
// goroutine hands each response to the caller waiting on its id.
type muxClient struct {
	c  net.Conn
	fr *frameReader

	wmu    sync.Mutex
	queue  []byte        // frames waiting for the writer
	kick   chan struct{} // cap 1: the queue is not empty
	wdone  chan struct{}
	closed chan struct{}

	pmu     sync.Mutex
	pending map[uint64]*waiter
	nextID  uint64
	rerr    error // the reader's failure

	waiters sync.Pool
	done    chan struct{}
}

type waiter struct {
	ch  chan struct{}
	buf []byte
	err error
}

func dialMux(addr string, payload int) (*muxClient, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	size := bufSize(payload, 16)
	m := &muxClient{
		c:       c,
		fr:      newFrameReader(c, size),
		kick:    make(chan struct{}, 1),
		wdone:   make(chan struct{}),
		closed:  make(chan struct{}),
		pending: make(map[uint64]*waiter),
		done:    make(chan struct{}),
	}
	m.waiters.New = func() any { return &waiter{ch: make(chan struct{}, 1)} }
	if err := introduce(c, m.fr, bufio.NewWriterSize(c, size), "muxclient"); err != nil {
		c.Close()
		return nil, err
	}
	pprof.Do(context.Background(), pprof.Labels("side", "client"), func(context.Context) {
		go m.read()
		go m.write()
	})
	return m, nil
}

// write is the writer goroutine: it takes everything queued and writes it
// with one syscall, until the client closes or a write fails.
func (m *muxClient) write() {
	defer close(m.wdone)
	var out []byte
	for {
		select {
		case <-m.kick:
		case <-m.closed:
			return
		}
		m.wmu.Lock()
		out, m.queue = m.queue, out[:0]
		m.wmu.Unlock()
		if _, err := m.c.Write(out); err != nil {
			m.c.Close() // the reader fails every pending call
			return
		}
	}
}

func (m *muxClient) read() {
	defer close(m.done)
	var err error
	for {
		var f codec.Frame
		f, _, err = m.fr.next(nil)
		if err != nil {
			break
		}
		if f.Kind != codec.KindResponse {
			err = fmt.Errorf("got %s frame, want response", f.Kind)
			break
		}
		m.pmu.Lock()
		w := m.pending[f.ID]
		delete(m.pending, f.ID)
		m.pmu.Unlock()
		if w == nil {
			err = fmt.Errorf("response with unknown id %d", f.ID)
			break
		}
		w.buf = append(w.buf, f.Payload...)
		w.ch <- struct{}{}
	}
	m.pmu.Lock()
	m.rerr = err
	pending := m.pending
	m.pending = nil
	m.pmu.Unlock()
	for _, w := range pending {
		w.err = err
		w.ch <- struct{}{}
	}
}

var errMuxClosed = errors.New("mux client closed")

func (m *muxClient) call(msg, dst []byte) ([]byte, error) {
	w := m.waiters.Get().(*waiter)
	w.buf, w.err = dst, nil
	m.pmu.Lock()
	if m.rerr != nil || m.pending == nil {
		m.pmu.Unlock()
		return dst, errMuxClosed
	}
	m.nextID++
	id := m.nextID
	m.pending[id] = w
	m.pmu.Unlock()

	m.wmu.Lock()
	m.queue = codec.AppendHeader(m.queue, codec.KindRequest, 0, 0, id, len(msg))
	m.queue = append(m.queue, msg...)
	m.wmu.Unlock()
	select {
	case m.kick <- struct{}{}:
	default: // the writer is due anyway
	}
	<-w.ch
	out, err := w.buf, w.err
	w.buf = nil
	m.waiters.Put(w)
	return out, err
}

func (m *muxClient) Close() error {
	close(m.closed)
	<-m.wdone
	err := m.c.Close()
	<-m.done
	if errors.Is(err, net.ErrClosed) {
		err = nil // a failed write closed it already; the calls reported that
	}
	return err
}

// goroutineNodeReqRep: the goroutine baseline's client against its server.
func goroutineNodeReqRep(sp callSpec, r *Result) error {
	s, err := startServer(implGoroutine, serverOpts{})
	if err != nil {
		return err
	}
	defer closeServer(s, r)
	m, err := dialMux(s.Addr(), sp.payload)
	if err != nil {
		return fmt.Errorf("mux client: %w", err)
	}
	defer closeNamed("mux client", m.Close, r)
	ms := runCallers(shared(m), sp)
	ms.fill(r)
	return ms.err("calls")
}

// closeServer closes s and notes a failure to close in r.
func closeServer(s server, r *Result) { closeNamed("server", s.Close, r) }

func closeNamed(what string, close func() error, r *Result) {
	t := time.Now()
	err := close()
	if err != nil {
		r.addNote(fmt.Sprintf("%s close: %v", what, err))
	}
	if d := time.Since(t); d > 2*time.Second {
		r.addNote(fmt.Sprintf("%s close took %v", what, d.Round(time.Millisecond)))
	}
}
