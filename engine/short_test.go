package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/proto"
)

func TestShortRequestReply(t *testing.T) {
	var shorts sync.Map
	h := proto.HandlerFunc(func(ctx proto.Context, msg []byte) ([]byte, error) {
		shorts.Store(string(msg), ctx.Short())
		return append([]byte("echo:"), msg...), nil
	})
	a := startNode(t, "a", nil, WithMode(Short))
	b := startNode(t, "b", h, WithMode(Short))
	linkNodes(t, a, b)
	if a.Stats().Conns != 0 {
		t.Fatal("short-mode AddRoute opened a connection")
	}
	for i := range 20 {
		msg := fmt.Sprint(i)
		got, err := a.Dispatch("b", []byte(msg))
		if err != nil || string(got) != "echo:"+msg {
			t.Fatalf("Dispatch %d = %q, %v", i, got, err)
		}
		if s, _ := shorts.Load(msg); s != true {
			t.Fatalf("handler saw Short() = %v", s)
		}
	}
	// Every exchange closed its socket on both sides; the server learned no routes.
	eventually(t, 2*time.Second, "short sockets to close", func() bool {
		return a.Stats().Conns == 0 && b.Stats().Conns == 0
	})
	if len(b.Peers()) != 0 {
		t.Fatalf("short hellos added routes: %v", b.Peers())
	}
}

func TestShortConcurrentAndDispatchAll(t *testing.T) {
	a := startNode(t, "a", nil, WithMode(Short))
	var peers []*Node
	for i := range 4 {
		p := startNode(t, fmt.Sprint("p", i), echo, WithMode(Short))
		linkNodes(t, a, p)
		peers = append(peers, p)
	}
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := peers[i%len(peers)]
			if got, err := a.Dispatch(p.ID().Name, []byte("c")); err != nil || string(got) != "echo:c" {
				t.Errorf("Dispatch to %s: %q %v", p.ID(), got, err)
			}
		}()
	}
	wg.Wait()
	res := a.DispatchAll([]byte("all"))
	if len(res) != len(peers) {
		t.Fatalf("results: %v", res)
	}
	for _, p := range peers {
		if r := res[p.ID().String()]; r.Err != nil || string(r.Reply) != "echo:all" {
			t.Fatalf("%s: %q %v", p.ID(), r.Reply, r.Err)
		}
	}
}

func TestShortErrors(t *testing.T) {
	a := startNode(t, "a", nil, WithMode(Short), WithTimeout(300*time.Millisecond))
	slow := startNode(t, "slow", never, WithMode(Short))
	linkNodes(t, a, slow)
	_, err := a.Dispatch("slow", nil)
	mustErrIs(t, err, ErrTimeout)

	dead := startNode(t, "dead", nil, WithMode(Short))
	addr := dead.Addr()
	_ = dead.Close()
	linkNodes(t, a, dead) // short mode only records the address
	start := time.Now()
	if _, err := a.Dispatch("dead", nil); err == nil || errors.Is(err, ErrTimeout) {
		t.Fatalf("Dispatch to closed port = %v, want a dial error", err)
	}
	if time.Since(start) > 250*time.Millisecond {
		t.Fatal("refused dial waited for the timeout")
	}
	_ = addr

	bad := startNode(t, "bad", proto.HandlerFunc(func(proto.Context, []byte) ([]byte, error) {
		return nil, errors.New("nope")
	}), WithMode(Short))
	linkNodes(t, a, bad)
	_, err = a.Dispatch("bad", nil)
	mustErrIs(t, err, proto.ErrRemote)

	mismatch := startNode(t, "real", echo, WithMode(Short))
	if err := a.AddRoute("fake", mismatch.Addr()); err != nil {
		t.Fatal(err)
	}
	_, err = a.Dispatch("fake", nil)
	mustErrIs(t, err, ErrPeerMismatch)

	// Notices in short mode arrive too.
	got := make(chan string, 1)
	sink := startNode(t, "sink", proto.HandlerFunc(func(_ proto.Context, msg []byte) ([]byte, error) {
		got <- string(msg)
		return nil, nil
	}), WithMode(Short))
	linkNodes(t, a, sink)
	if err := a.Send("sink", []byte("n")); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m != "n" {
			t.Fatalf("notice %q", m)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("short notice lost")
	}
	eventually(t, 2*time.Second, "sockets to close", func() bool {
		return sink.Stats().Conns == 0 && a.Stats().Conns == 0
	})
}

// A short-mode reply larger than the socket buffers still arrives whole:
// the server closes only after it is flushed.
func TestShortLargeReply(t *testing.T) {
	big := make([]byte, 3<<20)
	for i := range big {
		big[i] = byte(i)
	}
	srv := startNode(t, "srv", proto.HandlerFunc(func(proto.Context, []byte) ([]byte, error) {
		return big, nil
	}), WithMode(Short))
	a := startNode(t, "a", nil, WithMode(Short))
	linkNodes(t, a, srv)
	got, err := a.Dispatch("srv", nil)
	if err != nil || len(got) != len(big) || got[len(got)-1] != big[len(big)-1] {
		t.Fatalf("got %d bytes, %v", len(got), err)
	}
}

// Answers sent later from other goroutines (Defer, workers) are never cut
// off by the short link closing, and AddRoute works inside a short handler.
func TestShortDeferredReplies(t *testing.T) {
	var srv *Node
	h := proto.HandlerFunc(func(ctx proto.Context, msg []byte) ([]byte, error) {
		if err := srv.AddRoute(ctx.Peer().Name, ctx.Peer().Addr); err != nil {
			return nil, err
		}
		r := ctx.Defer()
		m := append([]byte(nil), msg...)
		go func() { _ = r.Send(m, nil) }()
		return nil, nil
	})
	srv = startNode(t, "srv", h, WithMode(Short))
	workers := startNode(t, "workers", echo, WithMode(Short), WithWorkers(2), WithWorkerQueue(16))
	a := startNode(t, "a", nil, WithMode(Short))
	linkNodes(t, a, srv)
	linkNodes(t, a, workers)
	for i := range 200 {
		msg := fmt.Sprint(i)
		if got, err := a.Dispatch("srv", []byte(msg)); err != nil || string(got) != msg {
			t.Fatalf("deferred %d: %q %v", i, got, err)
		}
		if got, err := a.Dispatch("workers", []byte(msg)); err != nil || string(got) != "echo:"+msg {
			t.Fatalf("worker %d: %q %v", i, got, err)
		}
	}
	if p := srv.Peers(); len(p) != 1 || p[0] != a.ID() {
		t.Fatalf("handler's AddRoute: %v", p)
	}
	eventually(t, 2*time.Second, "short sockets to close", func() bool {
		return srv.Stats().Conns == 0 && workers.Stats().Conns == 0
	})
}

// A short request whose caller gives up ends at once with the caller's
// error (counted in Timeouts), and its connection closes: it has no other
// use.
func TestShortRequestEndsOnCancel(t *testing.T) {
	slow := startNode(t, "slow", never, WithMode(Short), WithTimeout(2*time.Second))
	a := startNode(t, "a", nil, WithMode(Short), WithTimeout(10*time.Second))
	linkNodes(t, a, slow)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := a.DispatchContext(ctx, "slow", []byte("q"))
		done <- err
	}()
	eventually(t, 2*time.Second, "the request on its way", func() bool { return a.Stats().Conns == 1 })
	start := time.Now()
	cancel()
	var err error
	select {
	case err = <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("the short request did not end")
	}
	if time.Since(start) > time.Second {
		t.Fatalf("ended after %v", time.Since(start))
	}
	mustErrIs(t, err, context.Canceled)
	if n := a.Stats().Timeouts; n != 1 {
		t.Fatalf("Timeouts = %d, want 1", n)
	}
	eventually(t, time.Second, "the abandoned short connection closed", func() bool { return a.Stats().Conns == 0 })
}

// Short requests work over IPv6 loopback too, and leave the counters
// balanced: one request, two frames in (hello-ack and response), no socket
// left open.
func TestShortRequestIPv6(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skip("no IPv6 loopback:", err)
	}
	_ = ln.Close()
	srv := startNodeAt(t, "srv", "[::1]:0", echo, WithMode(Short))
	a := startNodeAt(t, "a", "[::1]:0", nil, WithMode(Short))
	linkNodes(t, a, srv)
	for i := range 5 {
		msg := fmt.Sprint(i)
		if got, err := a.Dispatch("srv", []byte(msg)); err != nil || string(got) != "echo:"+msg {
			t.Fatalf("Dispatch %d = %q, %v", i, got, err)
		}
	}
	// Each link closes on its loop after the answer: wait for the last.
	eventually(t, 2*time.Second, "the short links closed", func() bool { return a.Stats().Conns == 0 })
	st := a.Stats()
	if st.Requests != 5 || st.FramesIn != 10 || st.InFlight != 0 || st.ShortLinks != 0 {
		t.Fatalf("stats after 5 short requests: %+v", st)
	}
}

// TestShortAnswerThatIsNotAFrame: an acceptor whose answer is not a frame
// (a wire version this node does not speak, or a length past the limit)
// fails the request with ErrProtocol and counts it, where a socket that
// just ends is ErrConnLost.
func TestShortAnswerThatIsNotAFrame(t *testing.T) {
	ln := rawListener(t)
	cli := startNode(t, "cli", nil, WithMode(Short), WithMaxFrameSize(1<<10))
	if err := cli.AddRoute("srv", ln.Addr().String()); err != nil {
		t.Fatal(err)
	}
	badVersion := codec.Append(nil, codec.Frame{Kind: codec.KindResponse, ID: 1, Payload: []byte("x")})
	badVersion[4] = codec.Version + 1
	tooLarge := codec.AppendHeader(nil, codec.KindResponse, 0, 0, 1, 4<<10)
	cut := codec.AppendHeader(nil, codec.KindResponse, 0, 0, 1, 100)[:10]
	for _, tc := range []struct {
		name   string
		answer []byte
		want   error
	}{
		{"bad version", badVersion, ErrProtocol},
		{"too large", tooLarge, ErrProtocol},
		{"cut short", cut, ErrConnLost},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := cli.Stats().ProtocolErrors
			served := serveShortOnce(t, ln, func(p *rawPeer, b []byte) error {
				_, err := p.c.Write(append(b, tc.answer...))
				return err
			})
			_, err := cli.Dispatch("srv", []byte("q"))
			mustErrIs(t, err, tc.want)
			if err := <-served; err != nil {
				t.Fatal(err)
			}
			if got := cli.Stats().ProtocolErrors - before; (tc.want == ErrProtocol) != (got == 1) {
				t.Fatalf("%v: %d protocol errors counted", err, got)
			}
		})
	}
}
