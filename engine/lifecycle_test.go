package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/internal/link"
	"github.com/antnet-p2p/antnet/internal/pending"
	"github.com/antnet-p2p/antnet/internal/sockaddr"
	"github.com/antnet-p2p/antnet/internal/testkit"
	"github.com/antnet-p2p/antnet/proto"
)

// waitTicks waits until n's ticker has run k more times: the way to let
// "nothing happens" be observed over a window of the node's own timers.
func waitTicks(t *testing.T, n *Node, k int) {
	t.Helper()
	last, seen := n.clock.Load(), 0
	eventually(t, time.Duration(k+20)*tickEvery*4, fmt.Sprintf("%d ticks", k), func() bool {
		if c := n.clock.Load(); c != last {
			last, seen = c, seen+1
		}
		return seen >= k
	})
}

// gossipCounter counts the broadcasts a node delivers and echoes requests.
type gossipCounter struct{ got atomic.Int32 }

func (g *gossipCounter) Handle(ctx proto.Context, msg []byte) ([]byte, error) {
	if ctx.Kind() == codec.KindGossip {
		g.got.Add(1)
		return nil, nil
	}
	return echo(ctx, msg)
}

// silentPeer is an old incarnation of a peer that stopped answering without
// closing its socket (a crashed host, a cut cable): the socket stays open,
// what arrives is read and dropped. closed reports when the node closed it.
type silentPeer struct {
	c      net.Conn
	closed chan struct{}
}

func newSilentPeer(t *testing.T, c net.Conn) *silentPeer {
	s := &silentPeer{c: c, closed: make(chan struct{})}
	t.Cleanup(func() { _ = c.Close() })
	go func() {
		defer close(s.closed)
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	}()
	return s
}

func (s *silentPeer) closedBy(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-s.closed:
	case <-time.After(d):
		t.Fatalf("the old incarnation's link was not closed within %v", d)
	}
}

// oneLinkTo checks that a routes peer through exactly one entry and one live
// link, and that requests and broadcasts reach it.
func oneLinkTo(t *testing.T, a, peer *Node, pg *gossipCounter) {
	t.Helper()
	eventually(t, 2*time.Second, "one live link", func() bool { return liveLinks(a) == 1 && a.Stats().Conns == 1 })
	if ps := a.Peers(); len(ps) != 1 || ps[0].Addr != peer.Addr() {
		t.Fatalf("%s Peers = %v, want just %s", a.ID().Name, ps, peer.ID())
	}
	if got, err := a.Dispatch(peer.Addr(), []byte("x")); err != nil || string(got) != "echo:x" {
		t.Fatalf("Dispatch to the restarted peer: %q %v", got, err)
	}
	before := pg.got.Load()
	if _, err := a.Broadcast([]byte("news")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "broadcast delivered", func() bool { return pg.got.Load() == before+1 })
}

var nameOrders = [][2]string{{"a-survivor", "z-restarts"}, {"z-survivor", "a-restarts"}}

// 10.1: the peer that dialed us restarts and dials again while its old link
// is still open on our side (its host died without a FIN).
func TestRestartedDialerIsRoutable(t *testing.T) {
	for _, names := range nameOrders {
		t.Run(names[0], func(t *testing.T) {
			var evMu sync.Mutex
			var events []PeerEvent
			a := startNode(t, names[0], echo, WithPeerEvents(func(e PeerEvent) {
				evMu.Lock()
				events = append(events, e)
				evMu.Unlock()
			}))
			addr := testkit.FreeAddr(t)
			// The old incarnation: said hello with its nonce, then went silent.
			raw := dialRaw(t, a.Addr())
			raw.hello(names[1], addr)
			old := newSilentPeer(t, raw.c)
			eventually(t, time.Second, "old incarnation routed", func() bool { return len(a.Peers()) == 1 })

			pg := &gossipCounter{}
			b := startNodeAt(t, names[1], addr, pg)
			linkNodes(t, b, a) // the restarted peer dials again
			old.closedBy(t, 2*time.Second)
			oneLinkTo(t, a, b, pg)
			if r := a.Stats().Restarts; r != 1 {
				t.Fatalf("Restarts = %d", r)
			}
			// A restart is Down then Up, with the route never empty between.
			evMu.Lock()
			defer evMu.Unlock()
			want := []bool{true, false, true}
			if len(events) != len(want) {
				t.Fatalf("events %+v", events)
			}
			for i, e := range events {
				if e.Up != want[i] || e.Peer.Addr != addr {
					t.Fatalf("events %+v", events)
				}
			}
		})
	}
}

// 10.1: we hold a half-open link we dialed to the old incarnation, and the
// restarted peer dials us.
func TestRestartedPeerDialsSurvivor(t *testing.T) {
	for _, names := range nameOrders {
		t.Run(names[0], func(t *testing.T) {
			a := startNode(t, names[0], echo, WithTimeout(20*time.Second))
			// The old incarnation: a raw acceptor that answers hello, then nothing.
			ln := rawListener(t)
			addr := ln.Addr().String()
			accepted := make(chan net.Conn, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				p := &rawPeer{t: t, c: c, r: newReader(c)}
				if _, err := p.next(); err != nil {
					return
				}
				ack := proto.AppendHello(nil, proto.Hello{ID: proto.PeerID{Name: names[1], Addr: addr}, Nonce: 5})
				_, _ = c.Write(codec.Append(nil, codec.Frame{Kind: codec.KindHelloAck, Payload: ack}))
				accepted <- c
			}()
			if err := a.AddRoute(names[1], addr); err != nil {
				t.Fatal(err)
			}
			old := newSilentPeer(t, <-accepted)
			_ = ln.Close() // the host is gone; its socket lingers half-open

			// A request is pending on the dead link when the peer comes back.
			pending := make(chan error, 1)
			go func() { _, err := a.Dispatch(addr, []byte("lost")); pending <- err }()
			eventually(t, time.Second, "request in flight", func() bool { return inflight(a) == 1 })

			pg := &gossipCounter{}
			b := startNodeAt(t, names[1], addr, pg)
			linkNodes(t, b, a)
			select {
			case err := <-pending:
				mustErrIs(t, err, ErrConnLost)
			case <-time.After(2 * time.Second):
				t.Fatal("the request on the old incarnation's link did not fail at once")
			}
			old.closedBy(t, 2*time.Second)
			oneLinkTo(t, a, b, pg)
		})
	}
}

// 10.2: Delete then AddRoute at once gives a usable route every time.
func TestDeleteThenAddRoute(t *testing.T) {
	a := startNode(t, "a", echo)
	b := startNode(t, "b", echo)
	cycles := 300
	if testing.Short() {
		cycles = 50
	}
	for i := range cycles {
		if err := a.AddRoute("b", b.Addr()); err != nil {
			t.Fatalf("cycle %d: AddRoute: %v", i, err)
		}
		if _, err := a.Dispatch("b", nil); err != nil {
			t.Fatalf("cycle %d: Dispatch right after AddRoute: %v", i, err)
		}
		if err := a.Delete("b"); err != nil {
			t.Fatalf("cycle %d: Delete: %v", i, err)
		}
	}
}

// flappingPeer is a raw acceptor at a fixed address that answers every
// hello: per connection, hold(k) says whether to keep connection k open
// (and hand it out on held) or to close it right after the hello-ack.
type flappingPeer struct {
	addr     string
	accepts  atomic.Int32
	held     chan net.Conn
	listener net.Listener
}

func newFlappingPeer(t *testing.T, name string, hold func(k int) bool) *flappingPeer {
	ln := rawListener(t)
	f := &flappingPeer{addr: ln.Addr().String(), held: make(chan net.Conn, 16), listener: ln}
	go func() {
		for k := 0; ; k++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.accepts.Add(1)
			t.Cleanup(func() { _ = c.Close() })
			p := &rawPeer{t: t, c: c, r: newReader(c)}
			if _, err := p.next(); err != nil {
				_ = c.Close()
				continue
			}
			ack := proto.AppendHello(nil, proto.Hello{ID: proto.PeerID{Name: name, Addr: f.addr}, Nonce: 9})
			_, _ = c.Write(codec.Append(nil, codec.Frame{Kind: codec.KindHelloAck, Payload: ack}))
			if hold(k) {
				f.held <- c
			} else {
				_ = c.Close()
			}
		}
	}()
	return f
}

// 10.3: a peer that goes down again right after a successful redial is
// redialed again, whatever the flap pattern.
func TestRedialSurvivesFlaps(t *testing.T) {
	a := startNode(t, "a", nil, WithRedialBackoff(10*time.Millisecond), WithRedialMaxBackoff(40*time.Millisecond))
	// Connection 0 is held; then every odd one flaps (hello-ack, close) and
	// every even one is held again.
	f := newFlappingPeer(t, "flappy", func(k int) bool { return k%2 == 0 })
	if err := a.AddRoute("flappy", f.addr); err != nil {
		t.Fatal(err)
	}
	c := <-f.held
	for round := range 5 {
		_ = c.Close() // down: a redials, the redial flaps, a must redial again
		select {
		case c = <-f.held:
		case <-time.After(3 * time.Second):
			t.Fatalf("round %d: not redialed after a flap (%d connections accepted)", round, f.accepts.Load())
		}
		eventually(t, 2*time.Second, "link back", func() bool { return liveLinks(a) == 1 })
	}
}

// 10.5: three peers started in any order, each told at start the addresses
// of those before it in the README's three-terminal scenario (yoghurt adds
// luda, kefir adds luda and yoghurt), end fully linked: a peer added before
// it was up is redialed until it is.
func TestStartOrderDoesNotMatter(t *testing.T) {
	orders := [][3]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}
	names := []string{"luda", "yoghurt", "kefir"}
	for _, order := range orders {
		t.Run(fmt.Sprint(order), func(t *testing.T) {
			addrs := []string{testkit.FreeAddr(t), testkit.FreeAddr(t), testkit.FreeAddr(t)}
			nodes := make([]*Node, 3)
			for _, i := range order {
				nodes[i] = startNodeAt(t, names[i], addrs[i], echo, WithRedialBackoff(20*time.Millisecond), WithRedialMaxBackoff(200*time.Millisecond))
				for j := range i {
					err := nodes[i].AddRoute(names[j], addrs[j])
					if nodes[j] == nil {
						mustErrIs(t, err, ErrDial) // not up yet: said, and kept
					} else if err != nil {
						t.Fatalf("%s AddRoute %s (up): %v", names[i], names[j], err)
					}
				}
			}
			eventually(t, 5*time.Second, "full mesh", func() bool {
				for _, n := range nodes {
					if n.Stats().Conns != 2 || liveLinks(n) != 2 || len(n.Peers()) != 2 {
						return false
					}
				}
				return true
			})
			for _, a := range nodes {
				for _, b := range nodes {
					if a == b {
						continue
					}
					if got, err := a.Dispatch(b.ID().String(), []byte("hi")); err != nil || string(got) != "echo:hi" {
						t.Fatalf("%s -> %s: %q %v", a.ID(), b.ID(), got, err)
					}
				}
			}
		})
	}
}

// A refusal that would repeat removes the route instead of redialing it.
func TestAddRouteKeepsOnlyRetriableRoutes(t *testing.T) {
	a := startNode(t, "a", nil, WithRedialBackoff(10*time.Millisecond), WithRedialMaxBackoff(20*time.Millisecond))
	b := startNode(t, "b", echo)
	mustErrIs(t, a.AddRoute("not-b", b.Addr()), ErrPeerMismatch)
	addr := testkit.FreeAddr(t)
	mustErrIs(t, a.AddRoute("later", addr), ErrDial)
	if ps := a.Peers(); len(ps) != 1 || ps[0].Addr != addr {
		t.Fatalf("Peers = %v, want only the route to %s", ps, addr)
	}
	before := a.Stats().Redials
	eventually(t, 2*time.Second, "redials", func() bool { return a.Stats().Redials >= before+2 })
	if err := a.Delete(addr); err != nil {
		t.Fatal(err)
	}
	waitTicks(t, a, 2)
	before = a.Stats().Redials
	waitTicks(t, a, 5)
	if a.Stats().Redials != before {
		t.Fatal("a deleted route is still redialed")
	}
}

// 10.8: one side names the other "localhost:N", the other "127.0.0.1:N";
// both dial at once, round after round: one route, one link, and no
// drain-and-redial loop.
func TestAddressSpellingsAgree(t *testing.T) {
	opts := []Option{WithRedialBackoff(10 * time.Millisecond), WithRedialMaxBackoff(50 * time.Millisecond)}
	a := startNode(t, "a", echo, opts...)
	b := startNode(t, "b", echo, opts...)
	_, bPort, _ := net.SplitHostPort(b.Addr())
	rounds := 25
	if testing.Short() {
		rounds = 8
	}
	for round := range rounds {
		var start, done sync.WaitGroup
		start.Add(1)
		errs := make([]error, 2)
		done.Add(2)
		go func() {
			defer done.Done()
			start.Wait()
			errs[0] = a.AddRoute("b", net.JoinHostPort("localhost", bPort))
		}()
		go func() {
			defer done.Done()
			start.Wait()
			errs[1] = b.AddRoute("a", a.Addr())
		}()
		start.Done()
		done.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("round %d: AddRoute: %v", round, err)
			}
		}
		settledPair(t, a, b)
		if len(a.Peers()) != 1 || len(b.Peers()) != 1 {
			t.Fatalf("round %d: a routes %v, b routes %v", round, a.Peers(), b.Peers())
		}
		// Settled means it stays so: nothing retired or redialed over a
		// window of ticks.
		dups, redials := a.Stats().DuplicateLinks+b.Stats().DuplicateLinks, a.Stats().Redials+b.Stats().Redials
		waitTicks(t, a, 3)
		if a.Stats().Conns != 1 || b.Stats().Conns != 1 ||
			a.Stats().DuplicateLinks+b.Stats().DuplicateLinks != dups || a.Stats().Redials+b.Stats().Redials != redials {
			t.Fatalf("round %d: links churn: %+v / %+v", round, a.Stats(), b.Stats())
		}
		_ = a.Delete(b.Addr())
		_ = b.Delete(a.Addr())
		eventually(t, 5*time.Second, "teardown", func() bool {
			return a.Stats().Conns == 0 && b.Stats().Conns == 0 && len(a.Peers()) == 0 && len(b.Peers()) == 0
		})
	}
}

// 10.8: a host name is resolved once, by AddRoute: the route is keyed by
// the IP, and an unresolvable name adds nothing.
func TestAddRouteResolvesHostNames(t *testing.T) {
	a := startNode(t, "a", nil)
	b := startNode(t, "b", echo)
	_, port, _ := net.SplitHostPort(b.Addr())
	if err := a.AddRoute("b", "localhost:"+port); err != nil {
		t.Fatal(err)
	}
	if ps := a.Peers(); len(ps) != 1 || ps[0] != b.ID() {
		t.Fatalf("Peers = %v, want %v", ps, b.ID())
	}
	linkNodes(t, a, b) // the same route
	if len(a.Peers()) != 1 || a.Stats().Conns != 1 {
		t.Fatalf("two spellings made two routes: %v", a.Peers())
	}
	_, aPort, _ := net.SplitHostPort(a.Addr())
	mustErrIs(t, a.AddRoute("a", "localhost:"+aPort), ErrSelf)
	mustErrIs(t, a.AddRoute("x", "no-such-host.invalid:1"), ErrDial)
	if len(a.Peers()) != 1 {
		t.Fatalf("Peers = %v", a.Peers())
	}
}

// 10.9: AddRoute on the event loop is refused before it stores anything.
func TestAddRouteOnLoopStoresNothing(t *testing.T) {
	target := testkit.FreeAddr(t)
	errc := make(chan error, 1)
	var b *Node
	b = startNode(t, "b", proto.HandlerFunc(func(ctx proto.Context, msg []byte) ([]byte, error) {
		errc <- b.AddRoute("x", target)
		return nil, nil
	}))
	a := startNode(t, "a", nil)
	linkNodes(t, a, b)
	_, _ = a.Dispatch("b", nil)
	mustErrIs(t, <-errc, ErrOnEventLoop)
	if b.routes.table.Get(target) != nil {
		t.Fatal("a refused AddRoute left a route that is never dialed")
	}
}

// closingConn is a gnet.Conn whose Wake fails after failing the link, as
// when the node closes during a send. Any other method panics.
type closingConn struct {
	gnet.Conn
	pc *peerConn
}

func (c *closingConn) Wake(gnet.AsyncCallback) error {
	c.pc.fail(ErrClosed)
	return errors.New("engine stopped")
}

// 10.9: a request whose wake fails while the link is failing leaves no
// signal behind in its future (it goes back to the pool).
func TestSendWakeFailureLeavesFutureEmpty(t *testing.T) {
	n, _ := New("x", "127.0.0.1:0", nil)
	pc := newPeerConn(n, true)
	pc.SetConn(&closingConn{pc: pc})
	f := pending.Get()
	_, err := pc.send(codec.KindRequest, 0, 0, 0, []byte("x"), f)
	mustErrIs(t, err, ErrClosed)
	if len(f.Done) != 0 {
		t.Fatal("the future holds a signal: the next Dispatch to reuse it would return an empty success")
	}
}

// 10.9: remote() never calls into the gnet.Conn (it runs on the ticker;
// RemoteAddr is loop-only).
func TestRemoteIsTickerSafe(t *testing.T) {
	n, _ := New("x", "127.0.0.1:0", nil)
	pc := newPeerConn(n, false)
	pc.SetConn(&closingConn{pc: pc})
	pc.raddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5555}
	if got := pc.remote(); got != "127.0.0.1:5555" {
		t.Fatalf("remote = %q", got)
	}
}

// stallingLog is a slog.Handler that holds the first "peer down" record
// for up to hold, or until release is closed: it widens the window between
// a link leaving the table and its event being raised.
type stallingLog struct {
	once    sync.Once
	entered chan struct{}
	release chan struct{}
	hold    time.Duration
}

func (h *stallingLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *stallingLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *stallingLog) WithGroup(string) slog.Handler            { return h }
func (h *stallingLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "peer down" {
		h.once.Do(func() {
			close(h.entered)
			select {
			case <-h.release:
			case <-time.After(h.hold):
			}
		})
	}
	return nil
}

// 10.9: events for one peer arrive in the order of its route changes, even
// when the link that went down and the one that came up are on different
// event loops and the first is slow to report.
func TestPeerEventsInOrder(t *testing.T) {
	var mu sync.Mutex
	var evs []bool
	stall := &stallingLog{entered: make(chan struct{}), release: make(chan struct{}), hold: 300 * time.Millisecond}
	a := startNode(t, "a", echo, WithEventLoops(2), WithLogger(slog.New(stall)), WithPeerEvents(func(e PeerEvent) {
		mu.Lock()
		evs = append(evs, e.Up)
		mu.Unlock()
	}))
	addr := testkit.FreeAddr(t)
	first := dialRaw(t, a.Addr())
	first.hello("b", addr)
	eventually(t, time.Second, "b routed", func() bool { return len(a.Peers()) == 1 })
	// Keep first's loop the busier one, so the next socket lands on the other.
	loop := loopOfRaw(t, a, first)
	onLoop := 0
	var fillers []*rawPeer
	for range 6 {
		p := dialRaw(t, a.Addr())
		loopOfRaw(t, a, p) // placed before the next dial
		fillers = append(fillers, p)
	}
	for _, p := range fillers {
		if loopOfRaw(t, a, p) == loop {
			onLoop++
		} else {
			_ = p.c.Close()
		}
	}
	if onLoop == 0 {
		t.Fatal("no filler socket on the first link's loop")
	}
	eventually(t, time.Second, "fillers settled", func() bool { return a.Stats().Conns == int64(1+onLoop) })
	_ = first.c.Close() // its loop takes it off the route, then stalls reporting it
	<-stall.entered
	second := dialRaw(t, a.Addr())
	if loopOfRaw(t, a, second) == loop {
		t.Fatal("the second link landed on the stalled loop")
	}
	second.hello("b", addr)
	close(stall.release)
	eventually(t, 2*time.Second, "three events", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(evs) == 3
	})
	mu.Lock()
	defer mu.Unlock()
	if !evs[0] || evs[1] || !evs[2] {
		t.Fatalf("events Up=%v, want Up, Down, Up: the route holds b, the last event must say so", evs)
	}
	if len(a.Peers()) != 1 || liveLinks(a) != 1 {
		t.Fatalf("Peers = %v", a.Peers())
	}
}

// loopOfRaw returns the event loop n serves p's socket on.
func loopOfRaw(t *testing.T, n *Node, p *rawPeer) gnet.EventLoop {
	t.Helper()
	var el gnet.EventLoop
	eventually(t, time.Second, "socket open", func() bool {
		n.conns.Range(func(pc *peerConn) bool {
			c := pc.Conn()
			if c != nil && sockaddr.HostPort(pc.raddr) == p.c.LocalAddr().String() { // RemoteAddr is loop-only
				el = c.EventLoop()
				return false
			}
			return true
		})
		return el != nil
	})
	return el
}

// 10.9: a hello-ack arriving as the handshake times out: the loop writes
// the link's peer while AddRoute reports the timeout (run with -race).
func TestHandshakeTimeoutRacesHelloAck(t *testing.T) {
	const hs = 20 * time.Millisecond
	a := startNode(t, "a", nil, WithHandshakeTimeout(hs), WithRedialBackoff(time.Hour), WithRedialMaxBackoff(time.Hour))
	ln := rawListener(t)
	addr := ln.Addr().String()
	go func() {
		for k := 0; ; k++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				p := &rawPeer{t: t, c: c, r: newReader(c)}
				if _, err := p.next(); err != nil {
					return
				}
				time.Sleep(hs - 2*time.Millisecond + time.Duration(k%5)*time.Millisecond) // the race is the point
				ack := proto.AppendHello(nil, proto.Hello{ID: proto.PeerID{Name: "late", Addr: addr}, Nonce: uint64(k + 1)})
				_, _ = c.Write(codec.Append(nil, codec.Frame{Kind: codec.KindHelloAck, Payload: ack}))
				_, _ = c.Read(make([]byte, 1))
			}()
		}
	}()
	for range 30 {
		_ = a.AddRoute("late", addr)
		_ = a.Delete(addr)
	}
}

// 10.2: AddRoutes racing for one route share one dial: each returns nil
// only with a usable route, and one link is left.
func TestConcurrentAddRoutesShareOneDial(t *testing.T) {
	a := startNode(t, "a", echo, WithEventLoops(4))
	b := startNode(t, "b", echo, WithEventLoops(4))
	rounds := 60
	if testing.Short() {
		rounds = 15
	}
	for round := range rounds {
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = a.AddRoute("b", b.Addr()) }()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("round %d: AddRoute: %v", round, err)
			}
		}
		if _, err := a.Dispatch("b", nil); err != nil {
			t.Fatalf("round %d: Dispatch after AddRoute: %v", round, err)
		}
		if c := a.Stats().Conns; c != 1 {
			t.Fatalf("round %d: %d links", round, c)
		}
		_ = a.Delete("b")
		eventually(t, 5*time.Second, "teardown", func() bool { return a.Stats().Conns == 0 && b.Stats().Conns == 0 })
	}
}

// 10.1: a link from a restarted peer's old run that completes its hello
// late, after the new run's link replaced it, does not displace the new one.
func TestLateLinkFromOldRunIsClosed(t *testing.T) {
	a := startNode(t, "a", echo)
	addr := testkit.FreeAddr(t)
	hello := func(nonce uint64) *rawPeer {
		p := dialRaw(t, a.Addr())
		payload := proto.AppendHello(nil, proto.Hello{ID: proto.PeerID{Name: "b", Addr: addr}, Nonce: nonce})
		p.write(codec.Append(nil, codec.Frame{Kind: codec.KindHello, Payload: payload}))
		if f := p.read(); f.Kind != codec.KindHelloAck {
			t.Fatalf("want hello-ack, got %s", f.Kind)
		}
		return p
	}
	old := hello(1)
	eventually(t, time.Second, "old run routed", func() bool { return len(a.Peers()) == 1 })
	cur := hello(2) // the restart
	old.closedBy(2 * time.Second)
	late := hello(1) // the old run again, late
	late.closedBy(2 * time.Second)
	e := a.routes.table.Get(addr)
	if e == nil || e.Link() == nil || e.Link().Nonce() != 2 || liveLinks(a) != 1 {
		t.Fatalf("the route lost the new run's link: %v", a.Peers())
	}
	_ = cur
}

// countingConn is a gnet.Conn that counts Close and accepts wakes without
// serving them, so frames stay queued. Any other method panics.
type countingConn struct {
	gnet.Conn
	closes atomic.Int32
}

func (c *countingConn) Wake(gnet.AsyncCallback) error { return nil }
func (c *countingConn) Close() error                  { c.closes.Add(1); return nil }

// Under WithDropSlowPeers the send that crosses the high-water mark closes
// the link once; later sends get the same error back and close nothing
// again.
func TestSendAfterSlowDropClosesOnce(t *testing.T) {
	n, err := New("x", "127.0.0.1:0", nil, WithMaxFrameSize(4096), WithHighWater(4096), WithDropSlowPeers())
	if err != nil {
		t.Fatal(err)
	}
	pc := newPeerConn(n, true)
	c := &countingConn{}
	pc.SetConn(c)
	pc.State.Store(link.Ready)
	msg := make([]byte, 1024)
	var dropErr error
	for i := 0; i < 16 && dropErr == nil; i++ {
		_, dropErr = pc.send(codec.KindNotice, 0, 0, 0, msg, nil)
	}
	mustErrIs(t, dropErr, ErrSlowPeer)
	if got := c.closes.Load(); got != 1 {
		t.Fatalf("the refused send closed the link %d times, want 1", got)
	}
	for range 3 {
		_, err := pc.send(codec.KindNotice, 0, 0, 0, msg, nil)
		mustErrIs(t, err, ErrSlowPeer)
	}
	if got := c.closes.Load(); got != 1 {
		t.Fatalf("sends after the drop closed the link %d more times, want none", got-1)
	}
}
