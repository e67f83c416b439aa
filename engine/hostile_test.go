package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/internal/link"
	"github.com/antnet-p2p/antnet/proto"
	"github.com/antnet-p2p/antnet/secure"
)

// Hostile and heavy peers (issue 11, items 1 to 4), over loopback sockets.

// handshakeBound is the largest frame a node takes before the handshake
// completes, as docs/PROTOCOL.md states it.
const handshakeBound = 4096

// heapInUse returns the live heap after two collections (the second one
// empties the pools' victim caches).
func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// onConnLoop runs f with pc's gnet.Conn on pc's event loop and waits for it.
// It reports false if the connection is gone or the loop did not get to it
// within 10 s; f never runs after onConnLoop returned.
func onConnLoop(pc *peerConn, f func(c gnet.Conn)) bool {
	c := pc.Conn()
	if c == nil {
		return false
	}
	var mu sync.Mutex // f runs under it; gaveUp keeps it from running late
	gaveUp := false
	done := make(chan bool, 1)
	err := c.Wake(func(c gnet.Conn, err error) error {
		mu.Lock()
		defer mu.Unlock()
		ok := !gaveUp && err == nil && pc.State.Load() != link.Closed
		if ok {
			f(c)
		}
		done <- ok
		return nil
	})
	if err != nil {
		return false
	}
	select {
	case ok := <-done:
		return ok
	case <-time.After(10 * time.Second):
		mu.Lock()
		gaveUp = true
		mu.Unlock()
		return false
	}
}

// pendingInbound returns srv's accepted sockets still in their handshake.
func pendingInbound(srv *Node) []*peerConn {
	var pcs []*peerConn
	srv.conns.Range(func(pc *peerConn) bool {
		if !pc.Outbound() && pc.State.Load() == link.Handshake {
			pcs = append(pcs, pc)
		}
		return true
	})
	return pcs
}

// inboundHeld sums the unread bytes srv's loops hold for pcs.
func inboundHeld(pcs []*peerConn) int {
	total := 0
	for _, pc := range pcs {
		onConnLoop(pc, func(c gnet.Conn) { total += c.InboundBuffered() })
	}
	return total
}

// outboundHeld is what a node holds for pc's peer: queued by other
// goroutines plus what the socket did not take. Read on pc's loop.
func outboundHeld(pc *peerConn) (held int, ok bool) {
	ok = onConnLoop(pc, func(c gnet.Conn) {
		held = c.OutboundBuffered()
		held += int(pc.Queued())
	})
	return held, ok
}

// linkAt returns n's live link to the peer at addr.
func linkAt(t *testing.T, n *Node, addr string) *peerConn {
	t.Helper()
	var pc *peerConn
	eventually(t, 2*time.Second, "link to "+addr, func() bool {
		if e := n.routes.table.Get(addr); e != nil {
			pc = e.Link()
		}
		return pc != nil
	})
	return pc
}

// Item 3: a frame that breaks the protocol ends the link: nothing after it
// in the same read is served.
func TestNothingServedAfterViolation(t *testing.T) {
	srv := startNode(t, "srv", echo)
	hello := proto.AppendHello(nil, proto.Hello{ID: proto.PeerID{Name: "x", Addr: "127.0.0.1:3"}, Nonce: 3})
	for _, tc := range []struct {
		name string
		bad  codec.Frame
	}{
		{"malformed gossip", codec.Frame{Kind: codec.KindGossip, ID: 5, Payload: []byte{0xff, 0xff, 'x'}}},
		{"hello after handshake", codec.Frame{Kind: codec.KindHello, Payload: hello}},
		{"secure frame on a plain link", codec.Frame{Kind: codec.KindSecure, ID: 5, Payload: []byte("noise")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := dialRaw(t, srv.Addr())
			p.hello("bad", "127.0.0.1:4")
			b := codec.Append(nil, tc.bad)
			b = codec.Append(b, codec.Frame{Kind: codec.KindRequest, ID: 1, Payload: []byte("after")})
			p.write(b)
			if f, err := p.next(); err == nil {
				t.Fatalf("after the violation the node sent %s id %d %q", f.Kind, f.ID, f.Payload)
			} else if isTimeout(err) {
				t.Fatal("the link stayed open")
			}
		})
	}
}

// Item 3: a short-mode connection carries one message each way.
func TestShortLinkCarriesOneMessage(t *testing.T) {
	t.Run("acceptor", func(t *testing.T) {
		srv := startNode(t, "srv", echo)
		p := dialRaw(t, srv.Addr())
		hello := proto.AppendHello(nil, proto.Hello{ID: proto.PeerID{Name: "s", Addr: "127.0.0.1:5"}, Nonce: 5})
		b := codec.Append(nil, codec.Frame{Kind: codec.KindHello, Flags: proto.FlagShort, Payload: hello})
		for i := range 1000 {
			b = codec.Append(b, codec.Frame{Kind: codec.KindRequest, ID: uint64(i + 1), Payload: []byte("q")})
		}
		p.write(b)
		if f := p.read(); f.Kind != codec.KindHelloAck {
			t.Fatalf("got %s", f.Kind)
		}
		answers := 0
		for {
			f, err := p.next()
			if err != nil {
				if isTimeout(err) {
					t.Fatal("the short link stayed open")
				}
				break
			}
			if f.Kind == codec.KindResponse {
				answers++
			}
		}
		t.Logf("short hello + 1000 requests: %d answered", answers)
		if answers > 1 {
			t.Fatalf("%d answers on a short link", answers)
		}
	})
	t.Run("dialer", func(t *testing.T) {
		ln := rawListener(t)
		cli := startNode(t, "cli", echo, WithMode(Short))
		if err := cli.AddRoute("srv", ln.Addr().String()); err != nil {
			t.Fatal(err)
		}
		served := serveShortOnce(t, ln, func(p *rawPeer, b []byte) error {
			b = codec.Append(b, codec.Frame{Kind: codec.KindRequest, ID: 77, Payload: []byte("extra")})
			b = codec.Append(b, codec.Frame{Kind: codec.KindResponse, ID: 1, Payload: []byte("answer")})
			_, _ = p.c.Write(b)
			for {
				f, err := p.next()
				if err != nil {
					return nil
				}
				if f.Kind == codec.KindResponse {
					return fmt.Errorf("the short dialer served request %d", f.ID)
				}
			}
		})
		_, err := cli.Dispatch("srv", []byte("q"))
		mustErrIs(t, err, ErrProtocol)
		if err := <-served; err != nil {
			t.Fatal(err)
		}
	})
}

// secureRaw runs a Noise XX handshake with srv by hand and returns the
// session.
func secureRaw(t *testing.T, p *rawPeer) *secure.Session {
	t.Helper()
	hs, err := secure.NewHandshake(newIdentity(t), true)
	if err != nil {
		t.Fatal(err)
	}
	m1, err := hs.Start()
	if err != nil {
		t.Fatal(err)
	}
	p.write(codec.Append(nil, codec.Frame{Kind: codec.KindSecure, Payload: m1}))
	f := p.read()
	m3, sess, err := hs.Read(secure.Cipher(f.Flags), f.Payload)
	if err != nil || sess == nil {
		t.Fatalf("noise: %v", err)
	}
	p.write(codec.Append(nil, codec.Frame{Kind: codec.KindSecure, Payload: m3}))
	return sess
}

func sealed(t *testing.T, s *secure.Session, fs ...codec.Frame) []byte {
	t.Helper()
	var plain []byte
	for _, f := range fs {
		plain = codec.Append(plain, f)
	}
	b, err := s.SealFrames(nil, plain)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Item 3: once the secure session exists, a secure frame is a violation,
// not the start of a new handshake.
func TestSecureFrameAfterSession(t *testing.T) {
	srv := startNode(t, "srv", echo, WithIdentity(newIdentity(t)))
	fresh, err := secure.NewHandshake(newIdentity(t), true)
	if err != nil {
		t.Fatal(err)
	}
	m1, err := fresh.Start()
	if err != nil {
		t.Fatal(err)
	}
	hello := proto.AppendHello(nil, proto.Hello{ID: proto.PeerID{Name: "s", Addr: "127.0.0.1:6"}, Nonce: 6})
	t.Run("before hello", func(t *testing.T) {
		p := dialRaw(t, srv.Addr())
		sess := secureRaw(t, p)
		p.write(sealed(t, sess, codec.Frame{Kind: codec.KindSecure, Payload: m1}))
		if f, err := p.next(); err == nil {
			t.Fatalf("the node answered a second handshake with %s", f.Kind)
		} else if isTimeout(err) {
			t.Fatal("the link stayed open")
		}
	})
	t.Run("after hello", func(t *testing.T) {
		p := dialRaw(t, srv.Addr())
		sess := secureRaw(t, p)
		p.write(sealed(t, sess, codec.Frame{Kind: codec.KindHello, Payload: hello}))
		if f := p.read(); f.Kind != codec.KindHelloAck {
			t.Fatalf("got %s", f.Kind)
		}
		p.write(sealed(t, sess, codec.Frame{Kind: codec.KindSecure, ID: 9, Payload: m1}))
		if f, err := p.next(); err == nil {
			t.Fatalf("the node answered a secure frame after the handshake with %s", f.Kind)
		} else if isTimeout(err) {
			t.Fatal("the link stayed open")
		}
	})
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// A gossip frame whose origin is not a peer ID, or a frame of kind 0,
// closes the link: nothing is delivered or relayed.
func TestJunkOriginAndKindZeroClose(t *testing.T) {
	d := newDeliveries()
	srv := startNode(t, "srv", d.handler("srv"))
	other := startNode(t, "other", d.handler("other"))
	linkNodes(t, other, srv)
	for _, frame := range [][]byte{
		codec.Append(nil, codec.Frame{Kind: codec.KindGossip, TTL: 3, ID: 5,
			Payload: append(binary.BigEndian.AppendUint16(nil, 4), "junkraw|x"...)}),
		codec.Append(nil, codec.Frame{Kind: 0, ID: 6}),
	} {
		p := dialRaw(t, srv.Addr())
		p.hello("raw", "127.0.0.1:3")
		before := srv.Stats().ProtocolErrors
		p.write(frame)
		p.closedBy(2 * time.Second)
		if srv.Stats().ProtocolErrors != before+1 {
			t.Fatalf("protocol errors %d, want %d", srv.Stats().ProtocolErrors, before+1)
		}
	}
	if s := srv.Stats(); s.GossipDelivered != 0 || s.GossipForwarded != 0 || d.count("other", "raw|x") != 0 {
		t.Fatalf("junk was delivered or relayed: %+v", s)
	}
}
