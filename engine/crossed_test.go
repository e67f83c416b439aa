package engine

import (
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/internal/sockaddr"
	"github.com/antnet-p2p/antnet/proto"
	"golang.org/x/sys/unix"
)

// routeSocket names the socket n routes to peer by its dialer's ephemeral
// address (the same string on both ends), or "" when n has no link.
func routeSocket(n *Node, peer *Node) string {
	e := n.routes.table.Get(peer.Addr())
	if e == nil || e.Link() == nil {
		return ""
	}
	pc := e.Link()
	if !pc.Outbound() {
		return "dialed-by-" + peer.ID().Name + "-from-" + sockaddr.HostPort(pc.raddr) // captured on the loop at open
	}
	// gnet's LocalAddr is loop-only; the descriptor is fixed at open.
	fd := pc.Conn().Fd()
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return ""
	}
	a := sa.(*unix.SockaddrInet4)
	return "dialed-by-" + n.ID().Name + "-from-" + net.JoinHostPort(net.IP(a.Addr[:]).String(), strconv.Itoa(a.Port))
}

// settledPair waits until a and b each hold exactly one socket to the other,
// the same socket, and checks a request works both ways.
func settledPair(t *testing.T, a, b *Node) {
	t.Helper()
	eventually(t, 5*time.Second, "one shared link", func() bool {
		as, bs := routeSocket(a, b), routeSocket(b, a)
		return as != "" && as == bs && a.Stats().Conns == 1 && b.Stats().Conns == 1
	})
	for _, p := range [][2]*Node{{a, b}, {b, a}} {
		if got, err := p[0].Dispatch(p[1].ID().String(), []byte("x")); err != nil || string(got) != "echo:x" {
			t.Fatalf("%s -> %s: %q %v", p[0].ID(), p[1].ID(), got, err)
		}
	}
}

func TestCrossedConnectionsSettleOnOne(t *testing.T) {
	a := startNode(t, "a", echo)
	b := startNode(t, "b", echo)
	rounds := 200
	if testing.Short() {
		rounds = 20
	}
	for round := range rounds {
		var start, done sync.WaitGroup
		start.Add(1)
		errs := make([]error, 2)
		for i, p := range [][2]*Node{{a, b}, {b, a}} {
			done.Add(1)
			go func() {
				defer done.Done()
				start.Wait()
				errs[i] = p[0].AddRoute(p[1].ID().Name, p[1].Addr())
			}()
		}
		start.Done() // release both at once
		done.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("round %d: AddRoute: %v", round, err)
			}
		}
		settledPair(t, a, b)
		// Tear down for the next round.
		_ = a.Delete(b.Addr())
		_ = b.Delete(a.Addr())
		eventually(t, 5*time.Second, "teardown", func() bool {
			return a.Stats().Conns == 0 && b.Stats().Conns == 0 && len(a.Peers()) == 0 && len(b.Peers()) == 0
		})
	}
	if a.Stats().DuplicateLinks == 0 && b.Stats().DuplicateLinks == 0 {
		t.Fatal("no round produced a crossed pair: the rule was not exercised")
	}
	t.Logf("crossed pairs settled: %d", a.Stats().DuplicateLinks+b.Stats().DuplicateLinks)
}

func TestFullMeshAllDialAtOnce(t *testing.T) {
	const size = 20
	nodes := make([]*Node, size)
	for i := range nodes {
		nodes[i] = startNode(t, fmt.Sprint("m", i), echo, WithEventLoops(1))
	}
	var start, done sync.WaitGroup
	start.Add(1)
	for i, a := range nodes {
		for j, b := range nodes {
			if i == j {
				continue
			}
			done.Add(1)
			go func() {
				defer done.Done()
				start.Wait()
				if err := a.AddRoute(b.ID().Name, b.Addr()); err != nil {
					t.Errorf("%s -> %s: %v", a.ID(), b.ID(), err)
				}
			}()
		}
	}
	start.Done()
	done.Wait()
	eventually(t, 10*time.Second, "190 links", func() bool {
		total := int64(0)
		for _, n := range nodes {
			total += n.Stats().Conns
		}
		return total == 2*size*(size-1)/2
	})
	for i, a := range nodes {
		for _, b := range nodes[i+1:] {
			as, bs := routeSocket(a, b), routeSocket(b, a)
			if as == "" || as != bs {
				t.Fatalf("%s and %s route different sockets: %q vs %q", a.ID(), b.ID(), as, bs)
			}
		}
	}
	dups := uint64(0)
	for _, n := range nodes {
		dups += n.Stats().DuplicateLinks
	}
	t.Logf("duplicate links retired: %d", dups)
}

// TestHelloJoinsTheRouteItsNonceIsOn: a dials peer r at its listening
// address; r then dials a too, and its hello names another address
// (127.0.0.3:9, as behind a NAT) with the same nonce. The nonce is on the
// link of a's route to r: the hello joins that route (and the duplicate
// rule settles the two links), instead of making a second route to one
// node.
func TestHelloJoinsTheRouteItsNonceIsOn(t *testing.T) {
	a := startNode(t, "a", echo)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const nonce = 77
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		p := &rawPeer{t: t, c: c, r: newReader(c)}
		if f, err := p.next(); err != nil || f.Kind != codec.KindHello {
			return
		}
		ack := proto.AppendHello(nil, proto.Hello{ID: proto.PeerID{Name: "r", Addr: ln.Addr().String()}, Nonce: nonce})
		if _, err := c.Write(codec.Append(nil, codec.Frame{Kind: codec.KindHelloAck, Payload: ack})); err != nil {
			return
		}
		for {
			if _, err := p.next(); err != nil {
				return
			}
		}
	}()
	if err := a.AddRoute("r", ln.Addr().String()); err != nil {
		t.Fatal(err)
	}
	back := dialRaw(t, a.Addr())
	hello := proto.AppendHello(nil, proto.Hello{ID: proto.PeerID{Name: "r", Addr: "127.0.0.3:9"}, Nonce: nonce})
	back.write(codec.Append(nil, codec.Frame{Kind: codec.KindHello, Payload: hello}))
	if f := back.read(); f.Kind != codec.KindHelloAck {
		t.Fatalf("r's second link: got %s, want hello-ack", f.Kind)
	}
	if ps := a.Peers(); len(ps) != 1 || ps[0].Addr != ln.Addr().String() {
		t.Fatalf("a's routes %v, want r at %s only", ps, ln.Addr())
	}
}
