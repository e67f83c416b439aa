package engine

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/internal/link"
	"github.com/antnet-p2p/antnet/internal/protodoc"
	"github.com/antnet-p2p/antnet/internal/testkit"
	"github.com/antnet-p2p/antnet/proto"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// pc.peer may point at unknownPeer or a route's ID: nothing may
		// write through it.
		goleak.Cleanup(func(code int) {
			if unknownPeer != (proto.PeerID{}) {
				fmt.Fprintf(os.Stderr, "unknownPeer was written through a link's peer: %v\n", unknownPeer)
				code = 1
			}
			os.Exit(code)
		}),
		// gnet dials on its process-wide ants pool; the pool's housekeeping
		// goroutines live as long as the process, whatever antnet does.
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*goWorker).run.func1"),
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).purgeStaleWorkers"),
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).ticktock"),
	)
}

// mustBeInProtocolDoc fails t unless frame, as read off the wire, is one of
// docs/PROTOCOL.md's byte examples: the node sends what the text shows.
func mustBeInProtocolDoc(t testing.TB, f codec.Frame) {
	t.Helper()
	dumps, err := protodoc.Dumps("../docs/PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	b := codec.Append(nil, f)
	for _, d := range dumps {
		if bytes.Equal(d, b) {
			return
		}
	}
	t.Fatalf("the node sent % x, which PROTOCOL.md does not show", b)
}

// echo answers every request with "echo:" + msg.
var echo = proto.HandlerFunc(func(_ proto.Context, msg []byte) ([]byte, error) {
	return append([]byte("echo:"), msg...), nil
})

// startNode starts a node on a free loopback port and closes it at cleanup.
func startNode(t testing.TB, name string, h proto.Handler, opts ...Option) *Node {
	t.Helper()
	return startNodeAt(t, name, "127.0.0.1:0", h, opts...)
}

// startNodeAt is startNode on a given address (a restart on the same port).
func startNodeAt(t testing.TB, name, listen string, h proto.Handler, opts ...Option) *Node {
	t.Helper()
	n, err := New(name, listen, h, opts...)
	return testkit.Started(t, n, err)
}

// nodeClock is n's clock: the time of its last tick.
func nodeClock(n *Node) time.Time { return time.Unix(0, n.clock.Load()) }

// inflight returns the requests n sent and has not had answered.
func inflight(n *Node) int { return int(n.linkEnv.InFlight.Load()) }

// linkNodes connects a to b and fails the test if it cannot.
func linkNodes(t testing.TB, a, b *Node) {
	t.Helper()
	if err := a.AddRoute(b.ID().Name, b.Addr()); err != nil {
		t.Fatalf("%s AddRoute %s: %v", a.ID(), b.ID(), err)
	}
}

// eventually is testkit.Eventually, under the name the engine's tests call
// it by.
var eventually = testkit.Eventually

func mustErrIs(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want %v", err, target)
	}
}

// liveLinks counts n's open sockets that finished the handshake and are not
// retiring.
func liveLinks(n *Node) int {
	c := 0
	n.conns.Range(func(pc *peerConn) bool {
		if pc.State.Load() == link.Ready {
			c++
		}
		return true
	})
	return c
}

// acceptShort accepts one connection on ln, a stand-in for a short-mode
// acceptor, and reads its hello and its one message. It returns the peer
// and the hello-ack that answers as srv at ln's address; the caller closes
// p.c.
func acceptShort(t *testing.T, ln net.Listener) (p *rawPeer, ack []byte, err error) {
	c, err := ln.Accept()
	if err != nil {
		return nil, nil, err
	}
	p = &rawPeer{t: t, c: c, r: newReader(c)}
	if f, err := p.next(); err != nil || f.Kind != codec.KindHello {
		_ = c.Close()
		return nil, nil, fmt.Errorf("hello: %v %v", f.Kind, err)
	}
	if _, err := p.next(); err != nil {
		_ = c.Close()
		return nil, nil, err
	}
	hello := proto.AppendHello(nil, proto.Hello{ID: proto.PeerID{Name: "srv", Addr: ln.Addr().String()}, Nonce: 9})
	return p, codec.Append(nil, codec.Frame{Kind: codec.KindHelloAck, Flags: proto.FlagShort, Payload: hello}), nil
}

// serveShortOnce accepts one short-mode socket on ln in a goroutine of its
// own, hands serve the raw peer and the hello-ack to write, and closes the
// socket after; the channel has the accept's or serve's error.
func serveShortOnce(t *testing.T, ln net.Listener, serve func(p *rawPeer, ack []byte) error) <-chan error {
	served := make(chan error, 1)
	go func() {
		p, ack, err := acceptShort(t, ln)
		if err != nil {
			served <- err
			return
		}
		defer p.c.Close()
		served <- serve(p, ack)
	}()
	return served
}
