package engine

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/proto"
)

// rawHello is a hello payload built field by field, lies included.
func rawHello(name, addr string, nonce uint64) []byte {
	b := append([]byte{byte(len(name))}, name...)
	b = append(append(b, byte(len(addr))), addr...)
	return binary.BigEndian.AppendUint64(b, nonce)
}

// A hello that lies about who it is is refused with an error frame saying
// why, and never reaches the route table.
func TestLyingHellosRefused(t *testing.T) {
	srv := startNode(t, "srv", echo)
	tests := []struct {
		what    string
		payload []byte
		why     string // in the refusal
	}{
		{"address holding '@'", rawHello("x", "evil@127.0.0.1:9", 7), "malformed hello"},
		{"address holding '#'", rawHello("x", "127.0.0.1:9#0123456789abcdef", 7), "malformed hello"},
		{"address holding a space", rawHello("x", " 127.0.0.1:9", 7), "malformed hello"},
		{"name holding '@'", rawHello("evil@127.0.0.1", "127.0.0.1:9", 7), "malformed hello"},
		{"empty name", rawHello("", "127.0.0.1:9", 7), "malformed hello"},
		{"trailing bytes", append(rawHello("x", "127.0.0.1:9", 7), 0), "malformed hello"},
		{"the acceptor's own address", rawHello("srv2", srv.Addr(), 7), "claims this node's address"},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			before := srv.Stats().ProtocolErrors
			p := dialRaw(t, srv.Addr())
			p.write(codec.Append(nil, codec.Frame{Kind: codec.KindHello, Payload: tt.payload}))
			f := p.read()
			if f.Kind != codec.KindError || f.ID != 0 {
				t.Fatalf("got %s id %d, want an error frame with id 0", f.Kind, f.ID)
			}
			re := proto.ParseError(proto.PeerID{}, f.Payload)
			if !strings.Contains(re.Message, tt.why) {
				t.Fatalf("refusal %q does not say %q", re.Message, tt.why)
			}
			p.closedBy(2 * time.Second)
			if got := srv.Peers(); len(got) != 0 {
				t.Fatalf("Peers() = %v", got)
			}
			if srv.Stats().ProtocolErrors != before+1 {
				t.Fatalf("ProtocolErrors = %d, want %d", srv.Stats().ProtocolErrors, before+1)
			}
		})
	}
	// The node still serves honest peers.
	cli := startNode(t, "cli", nil)
	linkNodes(t, cli, srv)
	if got, err := cli.Dispatch("srv", []byte("x")); err != nil || string(got) != "echo:x" {
		t.Fatalf("Dispatch = %q, %v", got, err)
	}
}

// A dialed node that answers with a hello-ack carrying the dialer's own
// nonce (a hello reflected back) is refused with a clear error.
func TestHelloAckWithOwnNonceRefused(t *testing.T) {
	cli := startNode(t, "cli", nil)
	addr := fakeAcceptor(t, func(hello []byte) []byte {
		h, err := proto.ParseHello(hello)
		if err != nil {
			return nil
		}
		ack := rawHello("mirror", "127.0.0.1:9", h.Nonce) // the dialer's own nonce
		return codec.Append(nil, codec.Frame{Kind: codec.KindHelloAck, Payload: ack})
	})
	err := cli.AddRoute("mirror", addr)
	mustErrIs(t, err, ErrHandshake)
	if !strings.Contains(err.Error(), "own nonce") {
		t.Fatalf("error does not say why: %v", err)
	}
	if len(cli.Peers()) != 0 {
		t.Fatalf("Peers() = %v", cli.Peers())
	}
}

// A secure AddRoute pins the peer's key: another key answering at the
// pinned address is refused, and so is an admitted key dialing in under
// that address once the real peer is gone.
func TestPinnedKeyCannotTakeOverAddress(t *testing.T) {
	kA, kB, kC := newIdentity(t), newIdentity(t), newIdentity(t)
	pinB := proto.PeerID{Key: string(kB.Public())}.Fingerprint()
	// A admits both B and C: admission alone does not stop C.
	a := startNode(t, "a", echo, WithIdentity(kA), WithAllowKeys(kB.Public(), kC.Public()))
	b := startNode(t, "b", echo, WithIdentity(kB))
	c := startNode(t, "b", echo, WithIdentity(kC)) // C even takes B's name

	// C answers at an address pinned to B's key.
	err := a.AddRoute("b", c.Addr()+"#"+pinB)
	mustErrIs(t, err, ErrPeerMismatch)
	mustErrIs(t, err, ErrKeyMismatch)
	if !strings.Contains(err.Error(), "antnet: peer key mismatch: "+c.Addr()+" is pinned to key "+pinB) || strings.Contains(err.Error(), "name") {
		t.Fatalf("a key refused as %q, want it named a key mismatch", err)
	}
	if len(a.Peers()) != 0 {
		t.Fatalf("refused pin left a route: %v", a.Peers())
	}

	// The real B at its pinned address; a wrong pin on the live link fails.
	if err := a.AddRoute("b", b.Addr()+"#"+strings.ToUpper(pinB)); err != nil {
		t.Fatal(err)
	}
	if got, err := a.Dispatch("b", []byte("x")); err != nil || string(got) != "echo:x" {
		t.Fatalf("Dispatch = %q, %v", got, err)
	}
	pinC := proto.PeerID{Key: string(kC.Public())}.Fingerprint()
	mustErrIs(t, a.AddRoute("b", b.Addr()+"#"+pinC), ErrPeerMismatch)
	if p := a.Peers(); len(p) != 1 || p[0].Pinned() != "b@"+b.Addr()+"#"+pinB {
		t.Fatalf("Peers() = %v", p)
	}

	// B goes away; C dials A claiming B's name and address.
	bAddr := b.Addr()
	_ = b.Close()
	eventually(t, 2*time.Second, "B's link down", func() bool { return a.routes.table.Get(bAddr).Link() == nil })
	impostor := startNode(t, "b", echo, WithIdentity(kC), WithAdvertiseAddr(bAddr))
	err = impostor.AddRoute("a", a.Addr())
	mustErrIs(t, err, ErrRefused)
	// The acceptor's refusal, as it came on the wire, says key, not name.
	if !strings.Contains(err.Error(), "refused by peer: antnet: peer key mismatch: "+bAddr+" is pinned to key "+pinB) {
		t.Fatalf("refusal does not say why: %v", err)
	}
	if e := a.routes.table.Get(bAddr); e == nil || e.Link() != nil {
		t.Fatal("the impostor took B's route")
	}

	// A pin needs a secure node.
	plain := startNode(t, "plain", nil)
	mustErrIs(t, plain.AddRoute("b", bAddr+"#"+pinB), proto.ErrBadPeerID)
}

// A client that does not listen says so with an empty address: it is
// routed under its socket's address over that link alone, answers requests
// and gets broadcasts, and is never dialed. A hello-ack without an address
// is refused by the dialer.
func TestDialOnlyClient(t *testing.T) {
	srv := startNode(t, "srv", echo)
	other := startNode(t, "other", nil)
	linkNodes(t, other, srv)
	p := dialRaw(t, srv.Addr())
	p.write(codec.Append(nil, codec.Frame{Kind: codec.KindHello, Payload: rawHello("client", "", 42)}))
	if f := p.read(); f.Kind != codec.KindHelloAck {
		t.Fatalf("got %s", f.Kind)
	}
	local := p.c.LocalAddr().String()
	eventually(t, time.Second, "client routed", func() bool { return len(srv.Peers()) == 2 })
	if _, err := srv.routes.table.Lookup("client@" + local); err != nil {
		t.Fatalf("client not routed under its socket address %s: %v (peers %v)", local, err, srv.Peers())
	}

	// It is served like any peer, and reachable over its link.
	p.write(codec.Append(nil, codec.Frame{Kind: codec.KindRequest, ID: 1, Payload: []byte("hi")}))
	if f := p.read(); f.Kind != codec.KindResponse || string(f.Payload) != "echo:hi" {
		t.Fatalf("got %s %q", f.Kind, f.Payload)
	}
	got := make(chan []byte, 1)
	go func() { reply, _ := srv.Dispatch("client", []byte("ask")); got <- reply }()
	f := p.read()
	if f.Kind != codec.KindRequest || string(f.Payload) != "ask" {
		t.Fatalf("got %s %q", f.Kind, f.Payload)
	}
	p.write(codec.Append(nil, codec.Frame{Kind: codec.KindResponse, ID: f.ID, Payload: []byte("told")}))
	if r := <-got; string(r) != "told" {
		t.Fatalf("Dispatch to the client: %q", r)
	}
	if _, err := other.Broadcast([]byte("news")); err != nil {
		t.Fatal(err)
	}
	if f := p.read(); f.Kind != codec.KindGossip {
		t.Fatalf("got %s, want the broadcast", f.Kind)
	}

	// Gone with its link, never redialed.
	_ = p.c.Close()
	eventually(t, 2*time.Second, "client unrouted", func() bool { return len(srv.Peers()) == 1 })
	waitTicks(t, srv, 3)
	if s := srv.Stats(); s.Redials != 0 {
		t.Fatalf("a dial-only client was redialed: %+v", s)
	}

	// An acceptor must say where it listens.
	addr := fakeAcceptor(t, func([]byte) []byte {
		return codec.Append(nil, codec.Frame{Kind: codec.KindHelloAck, Payload: rawHello("anon", "", 9)})
	})
	err := other.AddRoute("anon", addr)
	mustErrIs(t, err, proto.ErrBadHello)
}
