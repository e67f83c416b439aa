package engine

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/internal/testkit"
	"github.com/antnet-p2p/antnet/proto"
)

// stateOf returns n's PeerStates row for addr.
func stateOf(t *testing.T, n *Node, addr string) (PeerState, bool) {
	t.Helper()
	for _, s := range n.PeerStates() {
		if s.ID.Addr == addr {
			return s, true
		}
	}
	return PeerState{}, false
}

// holder answers "hold" requests only when release is closed, and echoes
// the rest.
type holder struct {
	held    chan proto.Reply
	release chan struct{}
}

func newHolder() *holder {
	return &holder{held: make(chan proto.Reply, 4), release: make(chan struct{})}
}

func (h *holder) Handle(ctx proto.Context, msg []byte) ([]byte, error) {
	if string(msg) == "hold" {
		h.held <- ctx.Defer()
		return nil, nil
	}
	return echo(ctx, msg)
}

// answerHeld answers every held request.
func (h *holder) answerHeld() {
	for {
		select {
		case r := <-h.held:
			_ = r.Send([]byte("done"), nil)
		default:
			return
		}
	}
}

func TestPeerStatesLinkedBothWays(t *testing.T) {
	h := newHolder()
	a := startNode(t, "a", nil)
	b := startNode(t, "b", h)
	before := time.Now()
	linkNodes(t, a, b)
	var sa, sb PeerState
	eventually(t, 10*time.Second, "both ends linked", func() bool {
		var ok1, ok2 bool
		sa, ok1 = stateOf(t, a, b.Addr())
		sb, ok2 = stateOf(t, b, a.Addr())
		// Linked is set mid-batch, the batch's counters at its end: wait
		// for hello and hello-ack to be counted before taking the baseline.
		return ok1 && ok2 && sa.State == Linked && sb.State == Linked &&
			sa.FramesIn == 1 && sa.FramesOut == 1 && sb.FramesIn == 1 && sb.FramesOut == 1
	})
	if !sa.Outbound || sb.Outbound || !sa.Static || sb.Static {
		t.Fatalf("a sees %+v, b sees %+v: want a outbound and static, b inbound and learned", sa, sb)
	}
	for _, s := range []PeerState{sa, sb} {
		if s.Since.Before(before.Add(-time.Millisecond)) || s.Since.After(time.Now()) || s.RTT != 0 || s.InFlight != 0 {
			t.Fatalf("fresh link: %+v", s)
		}
		if s.State.String() != "linked" {
			t.Fatalf("State.String() = %q", s.State)
		}
	}

	// Counters: N requests of size S each way, counted on both ends.
	const N, S = 5, 100
	msg := bytes.Repeat([]byte("x"), S)
	for range N {
		if _, err := a.Dispatch("b", msg); err != nil {
			t.Fatal(err)
		}
	}
	req, rep := uint64(N*(codec.HeaderSize+S)), uint64(N*(codec.HeaderSize+S+len("echo:")))
	eventually(t, 10*time.Second, "counters", func() bool {
		na, _ := stateOf(t, a, b.Addr())
		nb, _ := stateOf(t, b, a.Addr())
		return na.FramesOut-sa.FramesOut == N && na.BytesOut-sa.BytesOut == req &&
			nb.FramesIn-sb.FramesIn == N && nb.BytesIn-sb.BytesIn == req &&
			nb.FramesOut-sb.FramesOut == N && nb.BytesOut-sb.BytesOut == rep &&
			na.FramesIn-sa.FramesIn == N && na.BytesIn-sa.BytesIn == rep
	})

	// In flight.
	done := make(chan error, 1)
	go func() { _, err := a.Dispatch("b", []byte("hold")); done <- err }()
	eventually(t, 10*time.Second, "one request in flight", func() bool {
		s, _ := stateOf(t, a, b.Addr())
		return s.InFlight == 1
	})
	close(h.release)
	h.answerHeld()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s, _ := stateOf(t, a, b.Addr()); s.InFlight != 0 {
		t.Fatalf("InFlight after the answer = %d", s.InFlight)
	}
}

// hangingListener accepts sockets and never answers: a dial to it stays in
// its handshake.
func hangingListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().String()
}

func TestPeerStatesDialingThenBackingOff(t *testing.T) {
	a := startNode(t, "a", nil, WithHandshakeTimeout(500*time.Millisecond), WithRedialBackoff(time.Minute), WithRedialMaxBackoff(time.Minute))
	addr := hangingListener(t)
	done := make(chan error, 1)
	go func() { done <- a.AddRoute("mute", addr) }()
	eventually(t, 10*time.Second, "dialing", func() bool {
		s, ok := stateOf(t, a, addr)
		return ok && s.State == Dialing
	})
	mustErrIs(t, <-done, ErrHandshake)
	s, ok := stateOf(t, a, addr)
	if !ok || s.State != BackingOff || !s.Static {
		t.Fatalf("after the failed dial: %+v", s)
	}
	if wait := time.Until(s.NextDial); wait < 30*time.Second || wait > 80*time.Second {
		t.Fatalf("next dial in %v, want about a minute", wait)
	}
	if s.State.String() != "backing off" {
		t.Fatalf("State.String() = %q", s.State)
	}

	// A closed port: refused at once, backing off too.
	closed := testkit.FreeAddr(t)
	mustErrIs(t, a.AddRoute("gone", closed), ErrDial)
	if s, ok := stateOf(t, a, closed); !ok || s.State != BackingOff || s.NextDial.IsZero() {
		t.Fatalf("route to a closed port: %+v", s)
	}
}

func TestPeerStatesDraining(t *testing.T) {
	h := newHolder()
	a := startNode(t, "a", nil)
	b := startNode(t, "b", h)
	linkNodes(t, a, b)
	done := make(chan error, 1)
	go func() { _, err := a.Dispatch("b", []byte("hold")); done <- err }()
	eventually(t, 10*time.Second, "request held", func() bool { return len(h.held) == 1 })
	if err := a.Delete("b"); err != nil {
		t.Fatal(err)
	}
	s, ok := stateOf(t, a, b.Addr())
	if !ok || s.State != Draining || s.InFlight != 1 || !s.Outbound || s.State.String() != "draining" {
		t.Fatalf("deleted route with a request in flight: %+v (listed %v)", s, ok)
	}
	h.answerHeld()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "drained and gone", func() bool { return len(a.PeerStates()) == 0 })
}

func TestPeerStatesRTT(t *testing.T) {
	a := startNode(t, "a", nil, WithKeepalive(60*time.Millisecond))
	b := startNode(t, "b", nil, WithKeepalive(60*time.Millisecond))
	linkNodes(t, a, b)
	eventually(t, 10*time.Second, "RTT measured both ends", func() bool {
		sa, _ := stateOf(t, a, b.Addr())
		sb, _ := stateOf(t, b, a.Addr())
		return sa.RTT > 0 && sb.RTT > 0
	})
	sa, _ := stateOf(t, a, b.Addr())
	if sa.RTT > time.Second {
		t.Fatalf("RTT %v over loopback", sa.RTT)
	}
	t.Logf("keepalive RTT over loopback: %v", sa.RTT)
}

// A pong that answers no ping of ours leaves RTT alone.
func TestPeerStatesIgnoresStrayPong(t *testing.T) {
	a := startNode(t, "a", nil)
	p := dialRaw(t, a.Addr())
	p.hello("raw", "127.0.0.1:1")
	p.write(codec.Append(nil, codec.Frame{Kind: codec.KindPong, ID: uint64(time.Now().Add(-time.Hour).UnixNano())}))
	p.write(codec.Append(nil, codec.Frame{Kind: codec.KindPing, ID: 9}))
	if f := p.read(); f.Kind != codec.KindPong {
		t.Fatalf("want pong, got %s", f.Kind)
	}
	if s, _ := stateOf(t, a, "127.0.0.1:1"); s.State != Linked || s.RTT != 0 {
		t.Fatalf("after a stray pong: %+v", s)
	}
}

func TestRequestRTTHistogram(t *testing.T) {
	a := startNode(t, "a", nil)
	b := startNode(t, "b", echo)
	linkNodes(t, a, b)
	for range 4 {
		if _, err := a.Dispatch("b", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	h := a.RequestRTT()
	if h.Count != 4 || h.Sum <= 0 || len(h.Counts) != len(h.Bounds)+1 {
		t.Fatalf("histogram %+v", h)
	}
	var total uint64
	for _, c := range h.Counts {
		total += c
	}
	if total != 4 || h.Bounds[0] != 16*time.Microsecond || h.Counts[len(h.Counts)-1] != 0 {
		t.Fatalf("histogram %+v", h)
	}
	if b.RequestRTT().Count != 0 {
		t.Fatal("the serving side observed round trips")
	}
}

// events records a node's peer events.
type evRec chan PeerEvent

func newEvents() evRec { return make(evRec, 16) }

func (e evRec) opt() Option { return WithPeerEvents(func(ev PeerEvent) { e <- ev }) }

// down waits for a Down event for addr and returns its reason.
func (e evRec) down(t *testing.T, addr string) Reason {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev := <-e:
			if !ev.Up && ev.Peer.Addr == addr {
				return ev.Reason
			}
		case <-timeout:
			t.Fatalf("no Down event for %s", addr)
		}
	}
}

func wantReason(t *testing.T, got, want Reason) {
	t.Helper()
	if got != want {
		t.Fatalf("reason %q, want %q", got, want)
	}
}

func TestDownReasonGoawayAndLocalClose(t *testing.T) {
	ea, eb := newEvents(), newEvents()
	a := startNode(t, "a", nil, ea.opt())
	b := startNode(t, "b", nil, eb.opt())
	linkNodes(t, a, b)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	wantReason(t, ea.down(t, b.Addr()), ReasonGoaway)
	wantReason(t, eb.down(t, a.Addr()), ReasonClosed)
	if ReasonGoaway.String() != "goaway" || ReasonClosed.String() != "local close" {
		t.Fatal("reason names")
	}
}

func TestDownReasonDeleted(t *testing.T) {
	ea, eb := newEvents(), newEvents()
	a := startNode(t, "a", nil, ea.opt())
	b := startNode(t, "b", nil, eb.opt())
	linkNodes(t, a, b)
	if err := a.Delete("b"); err != nil {
		t.Fatal(err)
	}
	wantReason(t, ea.down(t, b.Addr()), ReasonDeleted)
	wantReason(t, eb.down(t, a.Addr()), ReasonGoaway)
}

func TestDownReasonConnLost(t *testing.T) {
	ea := newEvents()
	a := startNode(t, "a", nil, ea.opt())
	p := dialRaw(t, a.Addr())
	p.hello("raw", "127.0.0.1:1")
	_ = p.c.Close()
	wantReason(t, ea.down(t, "127.0.0.1:1"), ReasonConnLost)
}

func TestDownReasonSilent(t *testing.T) {
	ea := newEvents()
	a := startNode(t, "a", nil, ea.opt(), WithKeepalive(50*time.Millisecond), WithDeadPeerTimeout(200*time.Millisecond))
	p := dialRaw(t, a.Addr())
	p.hello("raw", "127.0.0.1:1")
	newSilentPeer(t, p.c) // reads and drops the pings, never answers
	wantReason(t, ea.down(t, "127.0.0.1:1"), ReasonSilent)
}

func TestDownReasonRestarted(t *testing.T) {
	ea := newEvents()
	a := startNode(t, "a", nil, ea.opt())
	p := dialRaw(t, a.Addr())
	p.hello("raw", "127.0.0.1:1") // nonce 7
	q := dialRaw(t, a.Addr())
	payload := proto.AppendHello(nil, proto.Hello{ID: proto.PeerID{Name: "raw", Addr: "127.0.0.1:1"}, Nonce: 8})
	q.write(codec.Append(nil, codec.Frame{Kind: codec.KindHello, Payload: payload}))
	wantReason(t, ea.down(t, "127.0.0.1:1"), ReasonRestarted)
}

func TestDownReasonProtocol(t *testing.T) {
	ea := newEvents()
	a := startNode(t, "a", nil, ea.opt())
	p := dialRaw(t, a.Addr())
	p.hello("raw", "127.0.0.1:1")
	p.write(codec.Append(nil, codec.Frame{Kind: codec.KindHello, Payload: []byte("again")}))
	wantReason(t, ea.down(t, "127.0.0.1:1"), ReasonProtocol)
}

func TestDownReasonSlowPeer(t *testing.T) {
	const hw = 128 << 10
	ea := newEvents()
	srv := startNode(t, "srv", echo, ea.opt(), WithHighWater(hw), WithDropSlowPeers(), WithMaxFrameSize(64<<10))
	p := dialRaw(t, srv.Addr())
	p.hello("lazy", "127.0.0.1:1")
	payload := make([]byte, 16<<10)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if err := srv.Send("lazy@127.0.0.1:1", payload); err != nil && !errors.Is(err, ErrSlowPeer) {
					return
				}
			}
		}()
	}
	got := ea.down(t, "127.0.0.1:1")
	cancel()
	wg.Wait()
	wantReason(t, got, ReasonSlowPeer)
}

// A fresh plain link: the dialer counts the hello it sent, the acceptor the
// hello it took and the hello-ack it answered; the dialer the hello-ack.
func TestPeerStatesCountHello(t *testing.T) {
	a := startNode(t, "a", nil)
	b := startNode(t, "b", nil)
	linkNodes(t, a, b)
	eventually(t, 10*time.Second, "hello counted both ways", func() bool {
		sa, _ := stateOf(t, a, b.Addr())
		sb, _ := stateOf(t, b, a.Addr())
		return sa.FramesOut == 1 && sa.FramesIn == 1 && sb.FramesIn == 1 && sb.FramesOut == 1 &&
			sa.BytesOut == sb.BytesIn && sb.BytesOut == sa.BytesIn && sa.BytesOut > 0 && sb.BytesOut > 0
	})
}

// PeerStates is safe from any goroutine while links come up: it read an
// inbound socket's mode before its state, racing with the handshake that
// sets both (found by the bench's discovery scenario under -race).
func TestPeerStatesWhileLinksComeUp(t *testing.T) {
	hub := startNode(t, "hub", echo, WithEventLoops(1))
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				_ = hub.PeerStates()
			}
		}
	}()
	for i := range 8 {
		linkNodes(t, startNode(t, "spoke"+string(rune('a'+i)), echo, WithEventLoops(1)), hub)
	}
	close(stop)
	<-done
	if got := len(hub.PeerStates()); got != 8 {
		t.Fatalf("%d peers, want 8", got)
	}
}
