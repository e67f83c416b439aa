package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/proto"
	"github.com/antnet-p2p/antnet/secure"
)

// idle: one server holding N persistent peer connections that do nothing,
// the peers in a second process. The figures are this (the server's)
// process's memory and goroutines, before the peers connect and once they
// all sit idle, divided by N.

const idleDescription = "a child process (this binary, -child) opens N TCP connections to the server on 127.0.0.1, " +
	"at most 256 handshakes at a time; each sends hello (advertising its own address, so antnet routes N distinct peers), " +
	"makes one 128 B request/response, then stays open and idle (a reader goroutine in the child answers keepalive pings); " +
	"for antnet-secure each peer has an identity of its own and runs Noise XX first, then hello, request and pongs sealed; " +
	"the server's process reads RSS (/proc/self/statm), Go heap (MemStats.HeapInuse) and runtime.NumGoroutine, " +
	"each time after runtime.GC + debug.FreeOSMemory, before the dials and once all N are idle (2.5 s after the last one's response: " +
	"antnet lets a link that carried nothing for 1-2 s drop its secure session's ciphers), and divides the deltas by N; " +
	"the goroutine server here is the lean variant a server careful with memory would run " +
	"(net/http's sizes: a 4 KiB bufio.Reader per conn, a 4 KiB bufio.Writer from a sync.Pool only while output is pending)"

// idleSettle is how long the last connection sits idle before the
// figures are read: longer than twice the engine's release period (a
// second), so that every link is idle as the engine counts it.
var idleSettle = 2500 * time.Millisecond

// idleDialConcurrency bounds the child's handshakes in flight (antnet caps
// pending inbound handshakes at 4096).
const idleDialConcurrency = 256

type idleSpec struct {
	Addr        string `json:"addr"`
	Conns       int    `json:"conns"`
	Concurrency int    `json:"concurrency"`
	Payload     int    `json:"payload"`
	Secure      bool   `json:"secure,omitempty"` // Noise XX and sealed frames, a new identity per connection
}

// idleReady is the child's report once every dial has finished.
type idleReady struct {
	Open      int    `json:"open"`
	Failed    int    `json:"failed"`
	Err       string `json:"err,omitempty"`
	ElapsedNS int64  `json:"elapsed_ns"`
}

// idleStatus is the child's answer to "status": how many connections are
// still open, and why the first one that closed did.
type idleStatus struct {
	Open   int64  `json:"open"`
	Closed int64  `json:"closed"`
	Pings  int64  `json:"pings"`
	Err    string `json:"err,omitempty"`
}

func idleCases(cfg *config) []caseSpec {
	var cs []caseSpec
	for _, n := range pick(cfg.idleConns, []int{1000, 4000, 10000}, []int{1000}, cfg) {
		ps := params{{"conns", n}}
		for _, impl := range append(serverImpls[:len(serverImpls):len(serverImpls)], implAntnetSecure) {
			cs = append(cs, caseSpec{
				scenario: "idle", impl: impl, params: ps, group: ps.String(),
				run: func(r *Result) error { return idleRun(impl, n, r) },
			})
		}
	}
	return cs
}

// connCounter is a server that can count its open connections.
type connCounter interface{ openConns() int }

// idleRun starts impl's server, has a child process connect n idle peers
// to it, and measures the memory and goroutines they cost the server.
func idleRun(impl string, n int, r *Result) error {
	s, err := startServer(impl, serverOpts{lean: true})
	if err != nil {
		return err
	}
	defer closeServer(s, r)
	before := snapMem()

	c, err := startChild("idle", idleSpec{Addr: s.Addr(), Conns: n, Concurrency: idleDialConcurrency, Payload: 128,
		Secure: impl == implAntnetSecure},
		120*time.Second)
	if err != nil {
		return err
	}
	defer c.wait()

	var ready idleReady
	if err := c.expect("ready", &ready); err != nil {
		return err
	}
	if ready.Failed > 0 {
		return fmt.Errorf("%d of %d connections failed, first: %s", ready.Failed, n, ready.Err)
	}
	// Every peer got its response, so the server has them all; wait anyway
	// until it counts them (a goroutine server registers before it reads).
	seen := -1
	if cc, ok := s.(connCounter); ok {
		deadline := time.Now().Add(5 * time.Second)
		for seen = cc.openConns(); seen < n && time.Now().Before(deadline); seen = cc.openConns() {
			time.Sleep(10 * time.Millisecond)
		}
		if seen != n {
			r.addNote(fmt.Sprintf("server counts %d conns, want %d", seen, n))
		}
	}
	if a, ok := s.(*antnetServer); ok {
		if p := a.n.Stats().Peers; p != n {
			r.addNote(fmt.Sprintf("route table holds %d peers, want %d", p, n))
		}
	}
	time.Sleep(idleSettle)
	after := snapMem()

	if err := c.tell("status"); err != nil {
		return err
	}
	var st idleStatus
	if err := c.expect("status", &st); err != nil {
		return err
	}
	if err := c.wait(); err != nil { // the child closes its connections and exits
		r.addNote(err.Error())
	}

	per := func(a, b uint64) float64 { return (float64(a) - float64(b)) / float64(n) }
	r.BytesPerConn = per(after.RSS, before.RSS)
	r.HeapPerConn = per(after.Heap, before.Heap)
	r.Goroutines = after.Goroutines - before.Goroutines
	r.Conns = n
	r.addNote(fmt.Sprintf("stacks %.0f B/conn, dials %v", per(after.Stack, before.Stack),
		time.Duration(ready.ElapsedNS).Round(time.Millisecond)))
	if st.Pings > 0 {
		r.addNote(fmt.Sprintf("%d keepalive pings answered", st.Pings))
	}
	if st.Closed > 0 {
		return fmt.Errorf("%d of %d connections closed while idle, first: %s", st.Closed, n, st.Err)
	}
	return nil
}

// idleChild connects, says "ready", answers "status" lines, and closes
// everything at EOF.
func idleChild(spec []byte, say func(string, any), in *bufio.Scanner) error {
	var sp idleSpec
	if err := json.Unmarshal(spec, &sp); err != nil {
		return err
	}
	var (
		conns        = make([]net.Conn, sp.Conns)
		holders      sync.WaitGroup
		mu           sync.Mutex
		ready        idleReady
		status       idleStatus
		open, closed atomic.Int64
		pings        atomic.Int64
		payload      = make([]byte, sp.Payload)
		stopping     atomic.Bool
		t0           = time.Now()
	)
	failed, first := dialAll(sp.Conns, sp.Concurrency, func(i int) error {
		dial := idleDial
		if sp.Secure {
			dial = idleDialSecure
		}
		lc, err := dial(sp.Addr, i, payload)
		if err != nil {
			return err
		}
		conns[i] = lc.c
		open.Add(1)
		holders.Add(1)
		go func() {
			defer holders.Done()
			err := idleHold(lc, &pings)
			open.Add(-1)
			if stopping.Load() {
				return
			}
			mu.Lock()
			if closed.Add(1) == 1 {
				status.Err = fmt.Sprintf("conn #%d: %v", i, err)
			}
			mu.Unlock()
		}()
		return nil
	})
	if failed > 0 {
		ready.Failed, ready.Err = failed, first.Error()
	}
	ready.Open = int(open.Load())
	ready.ElapsedNS = int64(time.Since(t0))
	say("ready", &ready)
	for in.Scan() {
		if in.Text() == "status" {
			mu.Lock()
			st := status
			mu.Unlock()
			st.Open, st.Closed, st.Pings = open.Load(), closed.Load(), pings.Load()
			say("status", &st)
		}
	}
	stopping.Store(true)
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
	holders.Wait()
	return nil
}

// idleDial connects peer i as the load generator does, and makes one
// request.
func idleDial(addr string, i int, payload []byte) (*idleConn, error) {
	lc, err := dialLoad(addr, i, &loadSpec{inflight: 1, payload: len(payload)})
	if err != nil {
		return nil, err
	}
	_ = lc.c.SetDeadline(time.Now().Add(10 * time.Second))
	lc.send(0, 0, payload)
	f, _, err := lc.fr.next(lc.bw)
	if err == nil && (f.Kind != codec.KindResponse || len(f.Payload) != len(payload)) {
		err = fmt.Errorf("got %s (%d bytes), want a response", f.Kind, len(f.Payload))
	}
	if err == nil {
		err = lc.c.SetDeadline(time.Time{})
	}
	if err != nil {
		lc.c.Close()
		return nil, err
	}
	return &idleConn{c: lc.c, fr: lc.fr, bw: lc.bw}, nil
}

// idleDialSecure connects peer i with a new identity: Noise XX in
// KindSecure frames (engine/secure.go), then hello and one request, sealed.
func idleDialSecure(addr string, i int, payload []byte) (*idleConn, error) {
	id, err := secure.Generate()
	if err != nil {
		return nil, err
	}
	hs, err := secure.NewHandshake(id, true)
	if err != nil {
		return nil, err
	}
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	ic := &idleConn{c: c, fr: newFrameReader(c, 4096), bw: bufio.NewWriterSize(c, 4096)}
	if err := ic.handshake(hs, i, payload); err != nil {
		c.Close()
		return nil, err
	}
	return ic, nil
}

// idleConn is one idle peer of the child: plain (sess nil) or sealed.
type idleConn struct {
	c    net.Conn
	fr   *frameReader
	bw   *bufio.Writer
	sess *secure.Session
}

// next reads the next frame, opened on a secure link.
func (ic *idleConn) next() (codec.Frame, error) {
	f, _, err := ic.fr.next(ic.bw)
	if err == nil && ic.sess != nil {
		err = ic.sess.Open(&f)
	}
	return f, err
}

// put queues one frame, sealed on a secure link.
func (ic *idleConn) put(kind codec.Kind, id uint64, payload []byte) error {
	if ic.sess == nil {
		_, err := ic.bw.Write(codec.AppendHeader(nil, kind, 0, 0, id, len(payload)))
		if err == nil {
			_, err = ic.bw.Write(payload)
		}
		return err
	}
	b, err := ic.sess.AppendSealed(nil, kind, 0, 0, id, payload)
	if err == nil {
		_, err = ic.bw.Write(b)
	}
	return err
}

func (ic *idleConn) handshake(hs *secure.Handshake, i int, payload []byte) error {
	_ = ic.c.SetDeadline(time.Now().Add(10 * time.Second))
	msg, err := hs.Start()
	if err != nil {
		return err
	}
	_, _ = ic.bw.Write(codec.Append(nil, codec.Frame{Kind: codec.KindSecure, Payload: msg}))
	f, err := ic.next()
	if err != nil {
		return err
	}
	if f.Kind != codec.KindSecure {
		return fmt.Errorf("got %s, want the acceptor's secure message", f.Kind)
	}
	reply, sess, err := hs.Read(secure.Cipher(f.Flags), f.Payload)
	if err != nil {
		return err
	}
	if sess == nil {
		return errors.New("no session after the acceptor's message")
	}
	_, _ = ic.bw.Write(codec.Append(nil, codec.Frame{Kind: codec.KindSecure, Payload: reply}))
	ic.sess = sess
	id := proto.PeerID{Name: "idle" + strconv.Itoa(i), Addr: ic.c.LocalAddr().String()}
	_ = ic.put(codec.KindHello, 0, proto.AppendHello(nil, proto.Hello{ID: id, Nonce: randNonce()}))
	if f, err = ic.next(); err == nil {
		err = checkAck(f)
	}
	if err != nil {
		return err
	}
	_ = ic.put(codec.KindRequest, 1, payload)
	f, err = ic.next()
	if err == nil && (f.Kind != codec.KindResponse || len(f.Payload) != len(payload)) {
		err = fmt.Errorf("got %s (%d bytes), want a response", f.Kind, len(f.Payload))
	}
	if err != nil {
		return err
	}
	return ic.c.SetDeadline(time.Time{})
}

// idleHold keeps a connection open, answering pings, until it fails.
func idleHold(ic *idleConn, pings *atomic.Int64) error {
	for {
		f, err := ic.next()
		if err != nil {
			return err
		}
		switch f.Kind {
		case codec.KindPing:
			pings.Add(1)
			if err := ic.put(codec.KindPong, f.ID, nil); err != nil {
				return err
			}
		case codec.KindPong:
		default:
			return fmt.Errorf("unexpected %s frame while idle", f.Kind)
		}
	}
}
