package engine

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/proto"
)

func TestReconnectAfterPeerRestart(t *testing.T) {
	a := startNode(t, "a", nil, WithRedialBackoff(20*time.Millisecond), WithRedialMaxBackoff(200*time.Millisecond))
	b := startNode(t, "b", echo)
	addr := b.Addr()
	linkNodes(t, a, b)
	if _, err := a.Dispatch("b", []byte("1")); err != nil {
		t.Fatal(err)
	}
	_ = b.Close()
	eventually(t, 2*time.Second, "link down", func() bool { return liveLinks(a) == 0 })

	// During the outage requests fail at once, with a clear error (not
	// ErrTimeout: nothing waited for an answer).
	_, err := a.Dispatch("b", []byte("2"))
	mustErrIs(t, err, ErrNotConnected)
	eventually(t, 3*time.Second, "failed redials with backoff", func() bool { return a.Stats().Redials >= 2 })

	b2 := startNodeAt(t, "b", addr, echo)
	eventually(t, 3*time.Second, "reconnect", func() bool {
		got, err := a.Dispatch("b", []byte("3"))
		return err == nil && string(got) == "echo:3"
	})

	// A deleted route is not redialed: over ticks spanning several backoff
	// periods, no attempt.
	_ = a.Delete("b")
	_ = b2.Close()
	eventually(t, 2*time.Second, "link closed", func() bool { return a.Stats().Conns == 0 })
	before := a.Stats().Redials
	waitTicks(t, a, 6)
	if a.Stats().Redials != before {
		t.Fatal("deleted route still redialed")
	}
}

func TestKeepalive(t *testing.T) {
	const deadAfter = 500 * time.Millisecond // ten pings' worth: a loaded machine still answers in time
	ka, dead := WithKeepalive(50*time.Millisecond), WithDeadPeerTimeout(deadAfter)
	srv := startNode(t, "srv", echo, ka, dead)
	// An idle but healthy peer answers pings and keeps its link.
	ok := startNode(t, "ok", nil, ka, dead)
	linkNodes(t, ok, srv)

	// A peer that completes the handshake, then goes silent.
	p := dialRaw(t, srv.Addr())
	p.hello("mute", "127.0.0.1:9")
	eventually(t, time.Second, "mute routed", func() bool { return len(srv.Peers()) == 2 })

	// It is pinged...
	f := p.read()
	if f.Kind != codec.KindPing {
		t.Fatalf("want ping, got %s", f.Kind)
	}
	// ...and, never answering, closed once the dead-peer timeout passes.
	p.closedBy(5 * time.Second)
	if srv.Stats().SilentPeers != 1 {
		t.Fatalf("SilentPeers = %d", srv.Stats().SilentPeers)
	}
	// The idle healthy peer stays through keepalive sweeps spanning more
	// than the dead-peer timeout.
	waitTicks(t, srv, int(deadAfter/tickEvery)+2)
	if got, err := ok.Dispatch("srv", []byte("still")); err != nil || string(got) != "echo:still" {
		t.Fatalf("idle healthy peer lost its link: %q %v", got, err)
	}
	if srv.Stats().SilentPeers != 1 {
		t.Fatal("keepalive closed a healthy idle peer")
	}
}

// A request pending on a link whose peer goes silent fails with
// ErrPeerSilent, not after its own timeout.
func TestKeepaliveFailsPending(t *testing.T) {
	a := startNode(t, "a", nil, WithKeepalive(50*time.Millisecond), WithDeadPeerTimeout(200*time.Millisecond), WithTimeout(10*time.Second))
	// A raw acceptor that answers hello and then nothing.
	ln := rawListener(t)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		p := &rawPeer{t: t, c: c}
		p.r = newReader(c)
		if _, err := p.next(); err != nil {
			return
		}
		ack := proto.AppendHello(nil, proto.Hello{ID: proto.PeerID{Name: "mute", Addr: ln.Addr().String()}, Nonce: 5})
		_, _ = c.Write(codec.Append(nil, codec.Frame{Kind: codec.KindHelloAck, Payload: ack}))
		// hold the socket open, read and discard, never answer
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	}()
	if err := a.AddRoute("mute", ln.Addr().String()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := a.Dispatch("mute", nil)
	mustErrIs(t, err, ErrPeerSilent)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("failed after %v", d)
	}
}

func TestBackPressure(t *testing.T) {
	const hw = 256 << 10
	srv := startNode(t, "srv", echo, WithHighWater(hw), WithMaxFrameSize(64<<10))
	stop := busyPeer(t, srv)

	p := dialRaw(t, srv.Addr())
	p.hello("deaf", "127.0.0.1:8")
	eventually(t, time.Second, "deaf routed", func() bool { return len(srv.Peers()) == 2 })
	msg := make([]byte, 16<<10)
	var sent int
	var err error
	for sent = 0; sent < 100_000; sent++ {
		if err = srv.Send("deaf", msg); err != nil {
			break
		}
	}
	mustErrIs(t, err, ErrSlowPeer)
	// Memory stays bounded: what the node holds for the peer is under the mark.
	e := srv.routes.table.Get("127.0.0.1:8")
	pc := e.Link()
	queued := int(pc.Held())
	if queued > hw {
		t.Fatalf("queued %d bytes for a deaf peer, high-water %d", queued, hw)
	}
	// Keep pushing 32 MiB: beyond what the kernel's socket buffers can
	// absorb, everything is refused and counted.
	accepted, refused := 0, 0
	for range 2000 {
		switch err := srv.Send("deaf", msg); {
		case err == nil:
			accepted++
		case errors.Is(err, ErrSlowPeer):
			refused++
		default:
			t.Fatal(err)
		}
	}
	if accepted*len(msg) > 8<<20 || refused < 1500 {
		t.Fatalf("after the mark: %d accepted, %d refused", accepted, refused)
	}
	if d := srv.Stats().Dropped; d != uint64(refused)+1 {
		t.Fatalf("Dropped = %d, want %d", d, refused+1)
	}
	// Once it reads again, sends are accepted again.
	go func() {
		buf := make([]byte, 64<<10)
		for {
			if _, err := p.c.Read(buf); err != nil {
				return
			}
		}
	}()
	eventually(t, 3*time.Second, "sends to resume", func() bool { return srv.Send("deaf", msg) == nil })
	stop()
	t.Logf("%d KiB accepted before the high-water mark refused", sent*16)
}

func TestSlowPeerDropped(t *testing.T) {
	srv := startNode(t, "srv", echo, WithHighWater(128<<10), WithDropSlowPeers(), WithMaxFrameSize(64<<10))
	p := dialRaw(t, srv.Addr())
	p.hello("deaf", "127.0.0.1:8")
	eventually(t, time.Second, "deaf routed", func() bool { return len(srv.Peers()) == 1 })
	msg := make([]byte, 16<<10)
	var err error
	for range 100_000 {
		if err = srv.Send("deaf", msg); err != nil {
			break
		}
	}
	mustErrIs(t, err, ErrSlowPeer)
	eventually(t, 2*time.Second, "slow peer dropped", func() bool { return len(srv.Peers()) == 0 })
	if srv.Stats().SlowPeers != 1 {
		t.Fatalf("SlowPeers = %d", srv.Stats().SlowPeers)
	}
}

// A peer that floods requests and never reads the answers is cut off.
func TestRequestFloodWithoutReading(t *testing.T) {
	big := make([]byte, 32<<10)
	h := proto.HandlerFunc(func(ctx proto.Context, msg []byte) ([]byte, error) {
		if len(msg) == 0 {
			return big, nil
		}
		return echo(ctx, msg)
	})
	srv := startNode(t, "srv", h, WithHighWater(256<<10), WithMaxFrameSize(64<<10))
	stop := busyPeer(t, srv)
	p := dialRaw(t, srv.Addr())
	p.hello("flood", "127.0.0.1:7")
	req := codec.Append(nil, codec.Frame{Kind: codec.KindRequest, ID: 1})
	batch := make([]byte, 0, len(req)*1000)
	for range 1000 {
		batch = append(batch, req...)
	}
	// Its answers are held at the mark; once its unread requests pass the
	// mark plus one max frame (4.25 MiB here), it is cut off.
	_ = p.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	for range 1000 {
		if _, err := p.c.Write(batch); err != nil {
			break
		}
	}
	eventually(t, 5*time.Second, "flooder cut off", func() bool { return srv.Stats().SlowPeers == 1 })
	stop()
}

func TestConnectionLimits(t *testing.T) {
	srv := startNode(t, "srv", echo, WithMaxConns(3), WithMaxPendingHandshakes(1), WithHandshakeTimeout(time.Second))
	stop := busyPeer(t, srv) // one connection
	// One socket may sit in its handshake; the next is refused at once.
	p1 := dialRaw(t, srv.Addr())
	eventually(t, time.Second, "p1 pending", func() bool { return srv.stats.Handshaking.Load() == 1 })
	p2 := dialRaw(t, srv.Addr())
	p2.closedBy(time.Second)
	p1.hello("p1", "127.0.0.1:11")
	// Three connections is the cap: the fourth is refused.
	p3 := dialRaw(t, srv.Addr())
	p3.hello("p3", "127.0.0.1:12")
	p4 := dialRaw(t, srv.Addr())
	p4.closedBy(time.Second)
	if r := srv.Stats().Refused; r != 2 {
		t.Fatalf("Refused = %d", r)
	}
	stop()
}

func TestMaxInFlight(t *testing.T) {
	a := startNode(t, "a", nil, WithMaxInFlight(4))
	b := startNode(t, "b", never)
	linkNodes(t, a, b)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = a.DispatchContext(ctx, "b", nil) }()
	}
	eventually(t, time.Second, "4 in flight", func() bool { return inflight(a) == 4 })
	_, err := a.Dispatch("b", nil)
	mustErrIs(t, err, ErrBusy)
	cancel()
	wg.Wait()
}

// The losing link of a crossed pair finishes its requests before it closes,
// while new requests already take the kept link.
func TestNoSwapInSession(t *testing.T) {
	release := make(chan struct{})
	var held atomic.Int32
	h := proto.HandlerFunc(func(ctx proto.Context, msg []byte) ([]byte, error) {
		if string(msg) != "hold" {
			return append([]byte("echo:"), msg...), nil
		}
		held.Add(1)
		r := ctx.Defer()
		go func() { <-release; _ = r.Send([]byte("released"), nil) }()
		return nil, nil
	})
	low := startNode(t, "a-low", h)
	high := startNode(t, "z-high", h)
	if high.nonce < low.nonce { // the lower hello nonce's dial wins, whatever the names
		low, high = high, low
	}
	linkNodes(t, high, low) // high dials first; low's dial will win
	old := routeSocket(high, low)

	errs := make(chan error, 3)
	for range 3 {
		go func() {
			got, err := high.Dispatch(low.Addr(), []byte("hold"))
			if err == nil && string(got) != "released" {
				err = fmt.Errorf("got %q", got)
			}
			errs <- err
		}()
	}
	eventually(t, time.Second, "requests held", func() bool { return held.Load() == 3 })

	// The lower node dials too (as a crossed hello would): its link wins.
	e := low.routes.table.Get(high.Addr())
	pc := newPeerConn(low, true)
	pc.setPeer(e.ID, e)
	pc.entry = e
	if err := low.connect(context.Background(), pc); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "route moved to the winning link", func() bool {
		return routeSocket(high, low) == routeSocket(low, high) && routeSocket(high, low) != old
	})
	// New requests take the new link while the old one still carries three.
	if got, err := high.Dispatch(low.Addr(), []byte("new")); err != nil || string(got) != "echo:new" {
		t.Fatalf("new request: %q %v", got, err)
	}
	if high.Stats().Conns != 2 || low.Stats().Conns != 2 {
		t.Fatal("the old link closed with requests in flight")
	}
	close(release)
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatalf("in-flight request on the retired link: %v", err)
		}
	}
	eventually(t, 2*time.Second, "old link closed after draining", func() bool {
		return high.Stats().Conns == 1 && low.Stats().Conns == 1
	})
}

// Closing a node with 10,000 requests in flight answers every caller.
func TestShutdownUnderLoad(t *testing.T) {
	for _, side := range []string{"client", "server"} {
		t.Run("close "+side, func(t *testing.T) {
			// Every request is held until the test has them all in flight,
			// then answered while the node shuts down.
			var heldMu sync.Mutex
			var held []proto.Reply
			slow := proto.HandlerFunc(func(ctx proto.Context, msg []byte) ([]byte, error) {
				heldMu.Lock()
				held = append(held, ctx.Defer())
				heldMu.Unlock()
				return nil, nil
			})
			answerHeld := func() {
				heldMu.Lock()
				defer heldMu.Unlock()
				for _, r := range held {
					_ = r.Send([]byte("ok"), nil)
				}
				held = nil
			}
			srv, _ := New("srv", "127.0.0.1:0", slow)
			cli, _ := New("cli", "127.0.0.1:0", nil, WithTimeout(30*time.Second))
			for _, n := range []*Node{srv, cli} {
				if err := n.Start(); err != nil {
					t.Fatal(err)
				}
			}
			linkNodes(t, cli, srv)
			const calls = 10_000
			var wg sync.WaitGroup
			var replies, failures atomic.Int32
			unclear := make(chan error, calls)
			for i := range calls {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := cli.Dispatch("srv", make([]byte, i%200))
					switch {
					case err == nil:
						replies.Add(1)
					case errors.Is(err, ErrClosed), errors.Is(err, ErrConnLost), errors.Is(err, ErrNotConnected),
						errors.Is(err, ErrDraining), errors.Is(err, proto.ErrRemoteShutdown):
						failures.Add(1)
					default:
						unclear <- err
					}
				}()
			}
			eventually(t, 30*time.Second, "load in flight", func() bool { return inflight(cli) == calls })
			done := make(chan struct{})
			go answerHeld() // answers race the shutdown
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
				defer cancel()
				if side == "client" {
					_ = cli.Shutdown(ctx)
				} else {
					_ = srv.Shutdown(ctx)
				}
				close(done)
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Shutdown hung")
			}
			wg.Wait()
			answerHeld()
			close(unclear)
			for err := range unclear {
				t.Fatalf("unclear error: %v", err)
			}
			_ = srv.Close()
			_ = cli.Close()
			t.Logf("%d replies, %d clear errors", replies.Load(), failures.Load())
			if replies.Load()+failures.Load() != calls {
				t.Fatal("some callers got no answer")
			}
		})
	}
	runtime.GC()
}
