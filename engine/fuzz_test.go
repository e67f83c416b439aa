package engine

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/internal/testkit"
	"github.com/antnet-p2p/antnet/proto"
	"github.com/antnet-p2p/antnet/secure"
)

// fuzzNode is a node under fuzz and a healthy peer linked to it. One
// serves every input of a fuzz process.
type fuzzNode struct {
	srv, good *Node
}

// newFuzzNode starts the pair, plain or (keyed) secure.
func newFuzzNode(f *testing.F, keyed bool) *fuzzNode {
	f.Helper()
	srvOpts := []Option{WithMaxFrameSize(64 << 10)}
	var goodOpts []Option
	if keyed {
		srvOpts = append(srvOpts, WithIdentity(newIdentity(f)))
		goodOpts = append(goodOpts, WithIdentity(newIdentity(f)))
	}
	srv := startNode(f, "srv", echo, srvOpts...)
	good := startNode(f, "good", nil, goodOpts...)
	linkNodes(f, good, srv)
	return &fuzzNode{srv: srv, good: good}
}

// healthy fails t unless, once the fuzz socket has closed, the node holds
// nothing for it (one socket, one route, one link: the good peer's; no
// handler panic) and still answers the good peer's request.
func (fn *fuzzNode) healthy(t *testing.T) {
	t.Helper()
	var s Stats
	if !testkit.Poll(5*time.Second, 100*time.Microsecond, func() bool {
		s = fn.srv.Stats()
		return s.Conns == 1 && s.Peers == 1 && s.PersistentLinks == 1 && s.ShortLinks == 0
	}) {
		t.Fatalf("5 s after the socket closed the node still holds %d sockets, %d routes, %d persistent and %d short links; want 1, 1, 1, 0",
			s.Conns, s.Peers, s.PersistentLinks, s.ShortLinks)
	}
	if s.HandlerPanics != 0 {
		t.Fatalf("%d handler panics", s.HandlerPanics)
	}
	if got, err := fn.good.Dispatch(fn.srv.ID().String(), []byte("ok?")); err != nil || string(got) != "echo:ok?" {
		t.Fatalf("the good peer's request got %q, %v", got, err)
	}
}

// feed writes stream to c, half-closes it and reads what the node sends
// until the node closes the socket: by then the node has handled every
// byte of the stream (it closes on reading the end of it, if not before).
func feed(t *testing.T, c net.Conn, stream []byte) {
	t.Helper()
	// A write can fail once the node has closed for a violation: what it
	// read before is what counts.
	if _, err := c.Write(stream); err == nil {
		_ = c.(*net.TCPConn).CloseWrite()
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, c); isTimeout(err) {
		t.Fatal("the node kept the socket open 5 s after the stream ended")
	}
}

// sealStream seals each whole frame at the start of plain with s and
// appends what follows the last whole frame unsealed: how a peer with the
// session would send the same stream, bad frames included.
func sealStream(t *testing.T, s *secure.Session, plain []byte) []byte {
	t.Helper()
	var out []byte
	for {
		f, n, err := codec.Decode(plain, len(plain)+1)
		if err != nil || n == 0 {
			return append(out, plain...)
		}
		if out, err = s.AppendSealed(out, f.Kind, f.Flags, f.TTL, f.ID, f.Payload); err != nil {
			t.Fatal(err)
		}
		plain = plain[n:]
	}
}

// fuzzStreams are the seed streams: each starts with a hello, so that the
// fuzzer starts past the handshake.
func fuzzStreams() [][]byte {
	hello := func(flags uint8) []byte {
		p := proto.AppendHello(nil, proto.Hello{ID: proto.PeerID{Name: "fz", Addr: "127.0.0.1:7001"}, Nonce: 7})
		return codec.Append(nil, codec.Frame{Kind: codec.KindHello, Flags: flags, Payload: p})
	}
	fr := func(kind codec.Kind, flags, ttl uint8, id uint64, payload []byte) []byte {
		return codec.Append(nil, codec.Frame{Kind: kind, Flags: flags, TTL: ttl, ID: id, Payload: payload})
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	alice := proto.PeerID{Name: "alice", Addr: "127.0.0.1:7002"}
	return [][]byte{
		cat(hello(0), fr(codec.KindRequest, 0, 0, 1, []byte("hi")), fr(codec.KindNotice, 0, 0, 0, []byte("n"))),
		cat(hello(0), fr(codec.KindPing, 0, 0, 5, nil), fr(codec.KindPong, 0, 0, 5, nil), fr(codec.KindRequest, 0, 0, 2, nil)),
		cat(hello(0), fr(codec.KindGossip, proto.FlagStamped, 3, 9, proto.AppendGossipStamped(nil, alice, time.Unix(1, 0), []byte("g")))),
		cat(hello(0), fr(codec.KindGossip, 0, 0, 11, proto.AppendGossip(nil, alice, []byte("g")))),
		cat(hello(0), fr(codec.KindPexRequest, 0, 0, 3, proto.AppendPexRequest(nil, 32)), fr(codec.KindPexResponse, 0, 0, 4, proto.AppendPexResponse(nil, []proto.PeerID{alice}))),
		cat(hello(0), fr(codec.KindError, 0, 0, 6, proto.AppendError(nil, proto.CodeBusy, "x")), fr(codec.KindResponse, 0, 0, 7, nil)),
		cat(hello(0), fr(codec.Kind(200), 0, 0, 8, nil), fr(codec.KindGoaway, 0, 0, 0, proto.AppendGoaway(nil, proto.GoawayTooManyLinks))),
		cat(hello(proto.FlagShort), fr(codec.KindRequest, 0, 0, 1, []byte("short"))),
		cat(hello(0), hello(0)),
		cat(hello(0), fr(codec.KindRequest, 0, 0, 1, nil)[:10]),
		binary.BigEndian.AppendUint32(nil, 1<<20),
		{},
	}
}

// Invariant of a node's input path (OnTraffic: decoding, the handshake,
// Noise and sealing, every kind's handler) on a real loopback socket:
// whatever one socket sends, plain or secure, the node neither crashes
// nor hangs; once that socket ends, the node closes it and keeps nothing
// of it, and a good peer's request on its own link still gets its answer.
// The input's mode picks the node and what the stream is: 0, the plain
// node's raw input; 1, the secure node's raw input (Noise messages before
// any session); 2, the secure node's input after a real Noise handshake,
// each whole frame of the stream sealed with the session, what follows
// the last whole frame sent as it is.
func FuzzNodeStream(f *testing.F) {
	plain, sec := newFuzzNode(f, false), newFuzzNode(f, true)
	for _, s := range fuzzStreams() {
		f.Add(uint8(0), s)
		f.Add(uint8(2), s)
	}
	m1, err := func() ([]byte, error) {
		h, err := secure.NewHandshake(newIdentity(f), true)
		if err != nil {
			return nil, err
		}
		return h.Start()
	}()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint8(1), codec.Append(nil, codec.Frame{Kind: codec.KindSecure, Payload: m1}))
	f.Add(uint8(1), codec.Append(nil, codec.Frame{Kind: codec.KindSecure, Payload: append(m1, bytes.Repeat([]byte{9}, 17)...)}))
	f.Add(uint8(1), fuzzStreams()[0])
	f.Fuzz(func(t *testing.T, mode uint8, stream []byte) {
		fn := plain
		if mode%3 != 0 {
			fn = sec
		}
		p := dialRaw(t, fn.srv.Addr())
		if mode%3 == 2 {
			stream = sealStream(t, secureRaw(t, p), stream)
		}
		feed(t, p.c, stream)
		fn.healthy(t)
	})
}
