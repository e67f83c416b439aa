package main

import (
	"fmt"
	"time"

	"github.com/antnet-p2p/antnet/engine"
	"github.com/libp2p/go-libp2p/core/host"
)

const setupDescription = "one server; N client hosts/nodes made beforehand (antnet: one event loop each), " +
	"then one connection each, one after the other, timed from the call to its return: " +
	"libp2p host.Connect (TCP, multistream-select, insecure or Noise, yamux; identify then runs in the background and its cost " +
	"falls in the window), antnet AddRoute (TCP, hello/hello-ack, or Noise XX then hello); " +
	"conn/s is N over the whole loop; allocs and cpu per connection are this process's (both ends)"

func setupCases(cfg *config) []caseSpec {
	var cs []caseSpec
	for _, sec := range cfg.security {
		ps := params{{"links", secName(sec)}, {"conns", cfg.setupConns}}
		cs = append(cs,
			caseSpec{"setup", implLibp2p, ps, func(r *Result) error { return libp2pSetup(sec, cfg.setupConns, r) }},
			caseSpec{"setup", implAntnet, ps, func(r *Result) error { return antnetSetup(sec, cfg.setupConns, r) }},
		)
	}
	return cs
}

// timeConnects runs connect(i) for every i below n, one after the other,
// and fills r.
func timeConnects(n int, connect func(i int) error, r *Result) error {
	h := newHist()
	u := readUsage()
	for i := range n {
		t0 := time.Now()
		if err := connect(i); err != nil {
			return fmt.Errorf("connection %d: %w", i, err)
		}
		h.record(time.Since(t0))
	}
	elapsed, cpu, mallocs := u.since()
	r.Ops, r.Seconds = int64(n), elapsed.Seconds()
	r.OpsPerSec = float64(n) / elapsed.Seconds()
	r.P50us, r.P99us = h.us(0.50), h.us(0.99)
	r.AllocsPerOp = float64(mallocs) / float64(n)
	r.CPUusPerOp = float64(cpu) / 1e3 / float64(n)
	return nil
}

func libp2pSetup(sec bool, n int, r *Result) error {
	srv, err := startEchoHost(sec)
	if err != nil {
		return err
	}
	defer srv.Close()
	clients := make([]host.Host, 0, n)
	defer func() { _ = closeAll(clients) }()
	for range n {
		c, err := newHost(sec)
		if err != nil {
			return err
		}
		clients = append(clients, c)
	}
	if sec {
		r.Cipher = cipherLibp2p
	}
	to := addrInfo(srv)
	return timeConnects(n, func(i int) error {
		ctx, cancel := connectCtx()
		defer cancel()
		return clients[i].Connect(ctx, to)
	}, r)
}

func antnetSetup(sec bool, n int, r *Result) error {
	srv, err := startNode("server", echo, sec, serverLoops())
	if err != nil {
		return err
	}
	defer srv.Close()
	clients := make([]*engine.Node, 0, n)
	defer func() { _ = closeAll(clients) }()
	for i := range n {
		c, err := startNode(fmt.Sprintf("c%d", i), nil, sec, 1)
		if err != nil {
			return err
		}
		clients = append(clients, c)
	}
	if sec {
		r.Cipher = cipherAntnet
	}
	return timeConnects(n, func(i int) error { return clients[i].AddRoute("server", srv.Addr()) }, r)
}
