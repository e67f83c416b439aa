package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

const reqrepDescription = "one server and one client in this process over one connection on 127.0.0.1; " +
	"G calling goroutines each make one blocking request at a time (G requests in flight on both stacks), same random payload; " +
	"antnet: client engine.Node.DispatchAppend over its persistent link to an echo handler (both nodes GOMAXPROCS event loops); " +
	"libp2p-stream: each caller opens one stream at the start and writes a length-prefixed frame, reads the echo, again; " +
	"libp2p-stream-per-req: host.NewStream per request (multistream-select negotiated lazily with the first write), " +
	"one frame each way, then Close, as go-libp2p's request/response protocols do; " +
	"allocs/op and cpu µs/op are this whole process's (client and server of the same stack) per request"

// reqrepSpec is one reqrep row's load.
type reqrepSpec struct {
	secure           bool
	callers, payload int
	warmup, duration time.Duration
}

// caller makes one blocking request; the echo lands in buf.
type caller func(msg, buf []byte) ([]byte, error)

// runCallers drives sp.callers goroutines, goroutine i calling through
// mk(i), through the warm-up and the window, and fills r. A failed call
// is counted; 100 failures in a row stop the goroutine.
func runCallers(mk func(i int) (caller, error), sp reqrepSpec, r *Result) error {
	msg := make([]byte, sp.payload)
	_, _ = rand.Read(msg)
	type worker struct {
		h    hist
		ops  int64
		errs int64
		err  error
		call caller
	}
	ws := make([]worker, sp.callers)
	for i := range ws {
		c, err := mk(i)
		if err != nil {
			return fmt.Errorf("caller %d: %w", i, err)
		}
		ws[i] = worker{h: newHist(), call: c}
	}
	var w window
	var wg sync.WaitGroup
	for i := range ws {
		wk := &ws[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, sp.payload+4)
			for run := 0; !w.stop.Load(); {
				t0 := time.Now()
				reply, err := wk.call(msg, buf[:0])
				d := time.Since(t0)
				if err == nil && len(reply) != len(msg) {
					err = fmt.Errorf("reply %d bytes, want %d", len(reply), len(msg))
				}
				if err != nil {
					if wk.errs++; wk.errs == 1 {
						wk.err = err
					}
					if run++; run >= 100 {
						return
					}
					time.Sleep(time.Millisecond)
					continue
				}
				run = 0
				if w.recording.Load() {
					wk.h.record(d)
					wk.ops++
				}
			}
		}()
	}
	elapsed, cpu, mallocs := w.run(sp.warmup, sp.duration)
	wg.Wait()
	total := newHist()
	var errs int64
	var first error
	for i := range ws {
		r.Ops += ws[i].ops
		total.h.Merge(ws[i].h.h)
		if ws[i].errs > 0 && first == nil {
			first = ws[i].err
		}
		errs += ws[i].errs
	}
	r.Seconds = elapsed.Seconds()
	r.OpsPerSec = float64(r.Ops) / elapsed.Seconds()
	if r.Ops > 0 {
		r.AllocsPerOp = float64(mallocs) / float64(r.Ops)
		r.CPUusPerOp = float64(cpu) / 1e3 / float64(r.Ops)
		r.P50us, r.P99us = total.us(0.50), total.us(0.99)
	}
	if errs > 0 {
		return fmt.Errorf("%d calls failed, first: %w", errs, first)
	}
	if r.Ops == 0 {
		return errors.New("no call completed in the window")
	}
	return nil
}

// antnetReqRep: a client node dispatching to a server node.
func antnetReqRep(sp reqrepSpec, r *Result) error {
	srv, err := startNode("server", echo, sp.secure, serverLoops())
	if err != nil {
		return err
	}
	defer srv.Close()
	cli, err := startNode("client", nil, sp.secure, serverLoops())
	if err != nil {
		return err
	}
	defer cli.Close()
	if err := cli.AddRoute("server", srv.Addr()); err != nil {
		return err
	}
	if sp.secure {
		r.Cipher = cipherAntnet
	}
	peer := srv.ID().String()
	return runCallers(func(int) (caller, error) {
		// The node's own request timeout (5 s by default) bounds each
		// call, as the stream deadline bounds libp2p's.
		return func(msg, buf []byte) ([]byte, error) {
			return cli.DispatchAppend(context.Background(), peer, msg, buf)
		}, nil
	}, sp, r)
}

// libp2pPair starts an echo host and a client host connected to it.
func libp2pPair(secureLinks bool) (srv, cli host.Host, err error) {
	if srv, err = startEchoHost(secureLinks); err != nil {
		return nil, nil, err
	}
	if cli, err = newHost(secureLinks); err != nil {
		srv.Close()
		return nil, nil, err
	}
	ctx, cancel := connectCtx()
	defer cancel()
	if err = cli.Connect(ctx, addrInfo(srv)); err != nil {
		cli.Close()
		srv.Close()
		return nil, nil, err
	}
	return srv, cli, nil
}

// streamCaller is one caller's long-lived stream.
type streamCaller struct {
	s   network.Stream
	out []byte
}

func (c *streamCaller) call(msg, buf []byte) ([]byte, error) {
	_ = c.s.SetDeadline(time.Now().Add(5 * time.Second))
	c.out = appendFrame(c.out[:0], msg)
	if _, err := c.s.Write(c.out); err != nil {
		return buf, err
	}
	b, err := readFrame(c.s, buf[:0])
	if err != nil {
		return buf, err
	}
	return b[4:], nil
}

// perReqCall opens a stream, sends one frame, reads the echo and closes.
func perReqCall(cli host.Host, to peer.ID, msg, buf []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := cli.NewStream(ctx, to, echoProto)
	if err != nil {
		return buf, err
	}
	_ = s.SetDeadline(time.Now().Add(5 * time.Second))
	bp := bufPool.Get().(*[]byte)
	*bp = appendFrame((*bp)[:0], msg)
	_, err = s.Write(*bp)
	bufPool.Put(bp)
	if err != nil {
		_ = s.Reset()
		return buf, err
	}
	b, err := readFrame(s, buf[:0])
	if err != nil {
		_ = s.Reset()
		return buf, err
	}
	return b[4:], s.Close()
}

// libp2pReqRep runs the load over a long-lived stream per caller, or a
// stream per request.
func libp2pReqRep(perRequest bool, sp reqrepSpec, r *Result) error {
	srv, cli, err := libp2pPair(sp.secure)
	if err != nil {
		return err
	}
	defer srv.Close()
	defer cli.Close()
	if sp.secure {
		r.Cipher = cipherLibp2p
	}
	to := srv.ID()
	var streams []network.Stream
	defer func() {
		for _, s := range streams {
			_ = s.Close()
		}
	}()
	return runCallers(func(int) (caller, error) {
		if perRequest {
			return func(msg, buf []byte) ([]byte, error) { return perReqCall(cli, to, msg, buf) }, nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s, err := cli.NewStream(ctx, to, echoProto)
		if err != nil {
			return nil, err
		}
		streams = append(streams, s)
		return (&streamCaller{s: s}).call, nil
	}, sp, r)
}

// reqrepCases: for each security, caller count and payload, the three
// implementations (libp2p first, so antnet's row ends its group).
func reqrepCases(cfg *config) []caseSpec {
	var cs []caseSpec
	for _, sec := range cfg.security {
		for _, g := range cfg.callers {
			for _, s := range cfg.payloads {
				ps := params{{"links", secName(sec)}, {"callers", g}, {"payload", s}}
				sp := reqrepSpec{secure: sec, callers: g, payload: s, warmup: cfg.warmup, duration: cfg.duration}
				cs = append(cs,
					caseSpec{"reqrep", implLibp2pPerReq, ps, func(r *Result) error { return libp2pReqRep(true, sp, r) }},
					caseSpec{"reqrep", implLibp2pStream, ps, func(r *Result) error { return libp2pReqRep(false, sp, r) }},
					caseSpec{"reqrep", implAntnet, ps, func(r *Result) error { return antnetReqRep(sp, r) }},
				)
			}
		}
	}
	return cs
}

func secName(secure bool) string {
	if secure {
		return "secure"
	}
	return "plain"
}
