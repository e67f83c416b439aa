package engine

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/book"
	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/proto"
	"github.com/antnet-p2p/antnet/secure"
	"github.com/antnet-p2p/antnet/upkeep"
)

// learnedDials counts n's learned dials in flight.
func learnedDials(n *Node) int {
	c := 0
	for _, r := range n.upkeep.Redials() {
		if r.Learned {
			c++
		}
	}
	return c
}

// settledAbove waits until every node has at least min links and no
// learned dial in flight.
func settledAbove(t *testing.T, nodes []*Node, min, known int, d time.Duration) {
	t.Helper()
	eventually(t, d, fmt.Sprintf("every node at >= %d links knowing >= %d peers", min, known), func() bool {
		for _, n := range nodes {
			if len(n.linkedPeers()) < min || len(n.AddressBook()) < known || learnedDials(n) > 0 {
				return false
			}
		}
		return true
	})
}

func TestDiscoveryFromOneBootstrap(t *testing.T) {
	const size, minLinks = 8, 3
	m := &mesh{d: newDeliveries(), deg: make([]int, size)}
	opts := []Option{WithEventLoops(1), WithMinLinks(minLinks)}
	start := time.Now()
	for i := range size {
		name := fmt.Sprint("d", i)
		m.nodes = append(m.nodes, startNode(t, name, m.d.handler(name), opts...))
		if i > 0 {
			linkNodes(t, m.nodes[i], m.nodes[0])
		}
	}
	settledAbove(t, m.nodes, minLinks, 5, 20*time.Second)
	formed := time.Since(start)
	for i, n := range m.nodes {
		m.deg[i] = liveLinks(n)
	}
	t.Logf("%d nodes from one bootstrap, min links %d: formed in %v, degrees %v", size, minLinks, formed.Round(time.Millisecond), m.deg)
	m.broadcastAll(t, 2*size, rand.New(rand.NewPCG(5, 6))) // each reaches every other node exactly once
}

// holdListeners opens k loopback listeners that accept and never answer,
// and counts the sockets open on them at once.
func holdListeners(t *testing.T, k int) (addrs []string, peak func() int, dialed func() int) {
	t.Helper()
	var mu sync.Mutex
	open, most := 0, 0
	hit := map[string]bool{}
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait) // runs after the listeners and the node close
	for range k {
		ln := rawListener(t)
		addr := ln.Addr().String()
		addrs = append(addrs, addr)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				open++
				most = max(most, open)
				hit[addr] = true
				mu.Unlock()
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, _ = io.Copy(io.Discard, c) // until the node gives up
					_ = c.Close()
					mu.Lock()
					open--
					mu.Unlock()
				}()
			}
		}()
	}
	peak = func() int { mu.Lock(); defer mu.Unlock(); return most }
	dialed = func() int { mu.Lock(); defer mu.Unlock(); return len(hit) }
	return addrs, peak, dialed
}

func TestPexFromABadPeerIsBounded(t *testing.T) {
	addrs, peak, dialed := holdListeners(t, proto.MaxPexAddrs)
	srv := startNode(t, "srv", echo, WithEventLoops(1), WithMinLinks(10), WithHandshakeTimeout(300*time.Millisecond))
	own := rawListener(t) // the raw peer's advertised address
	p := dialRaw(t, srv.Addr())
	p.hello("liar", own.Addr().String())
	f := p.read()
	for f.Kind != codec.KindPexRequest {
		f = p.read() // pings
	}
	if want, err := proto.ParsePexRequest(f.Payload); err != nil || want != proto.MaxPexAddrs {
		t.Fatalf("pex-request wants %d (%v)", want, err)
	}
	if f.ID&(1<<63) == 0 { // PROTOCOL.md: never an id a request of antnet's can have
		t.Fatalf("pex-request id %#x without the top bit", f.ID)
	}
	ids := make([]proto.PeerID, len(addrs))
	for i, a := range addrs {
		ids[i] = proto.PeerID{Name: fmt.Sprint("fake", i), Addr: a}
	}
	payload := proto.AppendPexResponse(nil, ids)
	p.write(codec.Append(nil, codec.Frame{Kind: codec.KindPexResponse, ID: f.ID, Payload: payload}))

	fromLiar := func() int {
		c := 0
		for _, e := range srv.AddressBook() {
			if e.Source == book.Exchange && e.From == own.Addr().String() {
				c++
			}
		}
		return c
	}
	eventually(t, 5*time.Second, "the liar's addresses in the book", func() bool { return fromLiar() > 0 })
	if c := fromLiar(); c > upkeep.BookPerSource {
		t.Fatalf("book took %d addresses from one peer, cap %d", c, upkeep.BookPerSource)
	}
	// Every address it kept gets dialed (each hangs until the handshake
	// timeout), never more than upkeep.MaxLearnedDials at once.
	eventually(t, 10*time.Second, "the kept addresses dialed", func() bool { return dialed() >= fromLiar() })
	if got := peak(); got > upkeep.MaxLearnedDials {
		t.Fatalf("%d dials to the made-up addresses at once, bound %d", got, upkeep.MaxLearnedDials)
	}
	if got := dialed(); got > upkeep.BookPerSource {
		t.Fatalf("dialed %d made-up addresses, cap %d", got, upkeep.BookPerSource)
	}
	t.Logf("kept %d of %d addresses, dialed %d, at most %d at once", fromLiar(), len(addrs), dialed(), peak())

	// A second request within the second is answered busy.
	for i := range 2 {
		p.write(codec.Append(nil, codec.Frame{Kind: codec.KindPexRequest, ID: uint64(100 + i), Payload: proto.AppendPexRequest(nil, 8)}))
	}
	var kinds []codec.Kind
	var busy codec.Frame
	for len(kinds) < 2 {
		f := p.read()
		if f.ID == 100 || f.ID == 101 {
			kinds = append(kinds, f.Kind)
			busy = f
		}
	}
	if kinds[0] != codec.KindPexResponse || kinds[1] != codec.KindError || proto.ParseError(proto.PeerID{}, busy.Payload).Code != proto.CodeBusy {
		t.Fatalf("two pex-requests at once answered %v, want pex-response then error", kinds)
	}
}

func TestDiscoveryOffAnswersUnsupported(t *testing.T) {
	srv := startNode(t, "srv", echo, WithEventLoops(1))
	p := dialRaw(t, srv.Addr())
	p.hello("asker", "127.0.0.1:1")
	p.write(codec.Append(nil, codec.Frame{Kind: codec.KindPexRequest, ID: 9, Payload: proto.AppendPexRequest(nil, 8)}))
	f := p.read()
	if f.Kind != codec.KindError || f.ID != 9 {
		t.Fatalf("got %s id %d, want error id 9", f.Kind, f.ID)
	}
	if e := proto.ParseError(proto.PeerID{}, f.Payload); e.Code != proto.CodeUnsupported {
		t.Fatalf("code %d, want %d", e.Code, proto.CodeUnsupported)
	}
	if srv.AddressBook() != nil {
		t.Fatal("a node without WithMinLinks keeps a book")
	}
}

func TestAddressBookRejoinsAfterRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "book.json")
	var nodes []*Node
	for i := range 4 {
		nodes = append(nodes, startNode(t, fmt.Sprint("r", i), echo, WithEventLoops(1), WithMinLinks(2)))
		if i > 0 {
			linkNodes(t, nodes[i], nodes[0])
		}
	}
	a, err := New("a", "127.0.0.1:0", echo, WithEventLoops(1), WithMinLinks(2), WithAddressBook(path))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	linkNodes(t, a, nodes[0])
	settledAbove(t, []*Node{a}, 2, 3, 10*time.Second)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	// Restarted without AddRoute: it dials from the saved book.
	var up atomic.Int32
	b := startNode(t, "a", echo, WithEventLoops(1), WithMinLinks(2), WithAddressBook(path),
		WithPeerEvents(func(ev PeerEvent) {
			if ev.Up {
				up.Add(1)
			}
		}))
	if len(b.AddressBook()) < 3 {
		t.Fatalf("restarted node loaded %d peers, want >= 3", len(b.AddressBook()))
	}
	settledAbove(t, []*Node{b}, 2, 3, 10*time.Second)
	if up.Load() < 2 {
		t.Fatalf("%d links came up", up.Load())
	}
}

func TestDiscoveryOptions(t *testing.T) {
	for _, opts := range [][]Option{
		{WithMinLinks(-1)},
		{WithMinLinks(2), WithMode(Short)},
		{WithAddressBook(filepath.Join(t.TempDir(), "b.json"))},
		{WithMaxLinks(4)},
		{WithMinLinks(3), WithMaxLinks(2)},
		{WithMinLinks(3), WithMaxLinks(-1)},
		{WithMaxInbound(-1)},
		{WithMaxLinksPerIP(-1)},
		{WithMaxInbound(4), WithMode(Short)},
	} {
		if _, err := New("x", "127.0.0.1:0", echo, opts...); err == nil {
			t.Fatalf("options %d accepted", len(opts))
		} else {
			mustErrIs(t, err, ErrBadOption)
		}
	}
	n, err := New("x", "127.0.0.1:0", echo, WithMinLinks(3)) // the default high mark: upkeep's TestDefaultHighMark
	if err != nil {
		t.Fatal(err)
	}
	_ = n.Close()
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte("not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = New("x", "127.0.0.1:0", echo, WithMinLinks(1), WithAddressBook(bad))
	mustErrIs(t, err, ErrBadOption)
	mustErrIs(t, err, book.ErrBadFile)
}

func TestDiscoveryBookSourcesAndKeys(t *testing.T) {
	ks := []*secure.Identity{newIdentity(t), newIdentity(t), newIdentity(t)}
	boot := startNode(t, "boot", echo, WithEventLoops(1), WithIdentity(ks[0]), WithMinLinks(2))
	a := startNode(t, "a", echo, WithEventLoops(1), WithIdentity(ks[1]), WithMinLinks(2))
	b := startNode(t, "b", echo, WithEventLoops(1), WithIdentity(ks[2]), WithMinLinks(2))
	linkNodes(t, a, boot)
	linkNodes(t, b, boot)
	// a and b learn each other from boot, with keys, and link.
	settledAbove(t, []*Node{a, b}, 2, 2, 10*time.Second)
	want := map[string]string{boot.Addr(): string(ks[0].Public()), a.Addr(): string(ks[1].Public()), b.Addr(): string(ks[2].Public())}
	for _, e := range a.AddressBook() {
		if e.ID.Key != want[e.ID.Addr] {
			t.Fatalf("a's book has %s with key %x", e.ID, e.ID.Key)
		}
		if wantSrc := map[string]book.Source{boot.Addr(): book.Static, b.Addr(): book.Exchange}[e.ID.Addr]; e.Source != wantSrc && !(e.ID.Addr == b.Addr() && e.Source == book.Inbound) {
			t.Fatalf("a's book has %s from %s", e.ID, e.Source)
		}
	}
}

func TestDialOnlyPeerNotInBook(t *testing.T) {
	srv := startNode(t, "srv", echo, WithEventLoops(1), WithMinLinks(2))
	p := dialRaw(t, srv.Addr())
	p.write(codec.Append(nil, codec.Frame{Kind: codec.KindHello, Payload: rawHello("client", "", 42)}))
	if f := p.read(); f.Kind != codec.KindHelloAck {
		t.Fatalf("got %s", f.Kind)
	}
	eventually(t, time.Second, "client routed", func() bool { return len(srv.linkedPeers()) == 1 })
	other := startNode(t, "other", echo, WithEventLoops(1))
	linkNodes(t, other, srv)
	eventually(t, time.Second, "other in the book", func() bool { return len(srv.AddressBook()) == 1 })
	// The client may ask; it hears of other, never of itself.
	p.write(codec.Append(nil, codec.Frame{Kind: codec.KindPexRequest, ID: 5, Payload: proto.AppendPexRequest(nil, 32)}))
	f := p.read()
	for f.ID != 5 {
		f = p.read()
	}
	ids, err := proto.ParsePexResponse(f.Payload, 0)
	if err != nil || len(ids) != 1 || ids[0].Addr != other.Addr() {
		t.Fatalf("pex-response %v (%v), want only %s", ids, err, other.ID())
	}
	if e := srv.AddressBook()[0]; e.ID.Addr != other.Addr() || e.Source != book.Inbound {
		t.Fatalf("book holds %s from %s", e.ID, e.Source)
	}
}

func TestLearnedLinkRedialedFromBook(t *testing.T) {
	boot := startNode(t, "boot", echo, WithEventLoops(1), WithMinLinks(2))
	a := startNode(t, "a", echo, WithEventLoops(1), WithMinLinks(2))
	b := startNode(t, "b", echo, WithEventLoops(1), WithMinLinks(2))
	linkNodes(t, a, boot)
	linkNodes(t, b, boot)
	settledAbove(t, []*Node{a, b}, 2, 2, 10*time.Second)
	old := linkAt(t, a, b.Addr())
	old.Close() // the learned link drops
	eventually(t, 10*time.Second, "a and b linked again", func() bool {
		e := a.routes.table.Get(b.Addr())
		return e != nil && e.Link() != nil && e.Link() != old && len(b.linkedPeers()) == 2
	})
	if _, static := a.routes.static.Load(b.Addr()); static {
		t.Fatal("a learned route became static")
	}
}

func TestLearnedDialPinsTheBooksKey(t *testing.T) {
	kc := newIdentity(t)
	c := startNode(t, "c", echo, WithEventLoops(1), WithIdentity(kc))
	a := startNode(t, "a", echo, WithEventLoops(1), WithIdentity(newIdentity(t)), WithMinLinks(1))
	other := newIdentity(t) // what a liar said c's key is
	if err := a.upkeep.Book().Add(proto.PeerID{Name: "c", Addr: c.Addr(), Key: string(other.Public())}, book.Exchange, "127.0.0.1:1", time.Now()); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the dial refused", func() bool {
		e, ok := a.upkeep.Book().Get(c.Addr())
		return ok && e.Failures > 0 && learnedDials(a) == 0
	})
	if len(a.linkedPeers()) != 0 || a.routes.table.Get(c.Addr()) != nil {
		t.Fatalf("a linked or routed to c whose key is not the one it learned: %v", a.Peers())
	}
	if _, ok := a.upkeep.LearnedKey(c.Addr()); ok {
		t.Fatal("the pin outlived the dial")
	}
	// With the right key, it links.
	a.upkeep.Book().Remove(c.Addr())
	if err := a.upkeep.Book().Add(proto.PeerID{Name: "c", Addr: c.Addr(), Key: string(kc.Public())}, book.Exchange, "127.0.0.1:1", time.Now()); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "a linked to c", func() bool { return len(a.linkedPeers()) == 1 })
}

// An address a peer made up goes no further than the node it told: pex
// answers carry only peers the node has had a link with.
func TestPexRelaysOnlyLinkedPeers(t *testing.T) {
	srv := startNode(t, "srv", echo, WithEventLoops(1), WithMinLinks(1))
	liarAddr := rawListener(t).Addr().String()
	liar := dialRaw(t, srv.Addr())
	liar.hello("liar", liarAddr)
	f := liar.read()
	for f.Kind != codec.KindPexRequest {
		f = liar.read()
	}
	var made []proto.PeerID
	for i := range upkeep.BookPerSource {
		made = append(made, proto.PeerID{Name: fmt.Sprint("victim", i), Addr: fmt.Sprintf("127.0.0.9:%d", 1000+i)})
	}
	liar.write(codec.Append(nil, codec.Frame{Kind: codec.KindPexResponse, ID: f.ID, Payload: proto.AppendPexResponse(nil, made)}))
	eventually(t, 5*time.Second, "the made-up addresses in the book", func() bool { return len(srv.AddressBook()) == 1+upkeep.BookPerSource })

	asker := dialRaw(t, srv.Addr())
	asker.hello("asker", rawListener(t).Addr().String())
	asker.write(codec.Append(nil, codec.Frame{Kind: codec.KindPexRequest, ID: 42, Payload: proto.AppendPexRequest(nil, proto.MaxPexAddrs)}))
	f = asker.read()
	for f.ID != 42 {
		f = asker.read() // pings, the node's own pex-request
	}
	if f.Kind != codec.KindPexResponse {
		t.Fatalf("pex-request answered with %s", f.Kind)
	}
	got, err := proto.ParsePexResponse(f.Payload, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Addr != liarAddr {
		t.Fatalf("pex answer %v, want only the linked liar %s", got, liarAddr)
	}
}

// readSealed reads the next frame from a raw secure peer's link and opens
// it with the peer's session.
func (p *rawPeer) readSealed(sess *secure.Session) codec.Frame {
	p.t.Helper()
	f := p.read()
	if err := sess.Open(&f); err != nil {
		p.t.Fatalf("open %s: %v", f.Kind, err)
	}
	return f
}

// On a secure node every address learned by peer exchange is dialed with
// the key it came with pinned: a pex-response entry without a key refuses
// the whole answer (the link closes as a protocol error), and nothing of it
// reaches the address book.
func TestSecurePexEntryWithoutKeyRefused(t *testing.T) {
	srv := startNode(t, "srv", echo, WithEventLoops(1), WithIdentity(newIdentity(t)), WithMinLinks(4))
	p := dialRaw(t, srv.Addr())
	sess := secureRaw(t, p)
	own := rawListener(t)
	hello := proto.AppendHello(nil, proto.Hello{ID: proto.PeerID{Name: "liar", Addr: own.Addr().String()}, Nonce: 11})
	p.write(sealed(t, sess, codec.Frame{Kind: codec.KindHello, Payload: hello}))
	if f := p.readSealed(sess); f.Kind != codec.KindHelloAck {
		t.Fatalf("got %s, want hello-ack", f.Kind)
	}
	f := p.readSealed(sess)
	for f.Kind != codec.KindPexRequest {
		f = p.readSealed(sess) // pings
	}
	keyed := proto.PeerID{Name: "k", Addr: "127.0.0.1:9", Key: string(newIdentity(t).Public())}
	bare := proto.PeerID{Name: "bare", Addr: "127.0.0.1:10"}
	before := srv.Stats().ProtocolErrors
	p.write(sealed(t, sess, codec.Frame{Kind: codec.KindPexResponse, ID: f.ID, Payload: proto.AppendPexResponse(nil, []proto.PeerID{keyed, bare})}))
	p.closedBy(2 * time.Second)
	if got := srv.Stats().ProtocolErrors; got != before+1 {
		t.Fatalf("ProtocolErrors %d, want %d", got, before+1)
	}
	for _, e := range srv.AddressBook() {
		if e.ID.Addr == keyed.Addr || e.ID.Addr == bare.Addr {
			t.Fatalf("the refused answer's %s reached the book", e.ID)
		}
	}
}

// A malformed pex-request (a payload other than the one want byte) closes
// the link as a protocol error, with no answer (PROTOCOL.md, "Errors and
// closing"); a node without peer exchange answers it code 3 like any
// unknown kind.
func TestMalformedPexRequestClosesLink(t *testing.T) {
	srv := startNode(t, "srv", echo, WithEventLoops(1), WithMinLinks(2))
	for name, payload := range map[string][]byte{"empty": {}, "2 bytes": {8, 8}} {
		t.Run(name, func(t *testing.T) {
			p := dialRaw(t, srv.Addr())
			p.hello("asker", rawListener(t).Addr().String())
			before := srv.Stats().ProtocolErrors
			p.write(codec.Append(nil, codec.Frame{Kind: codec.KindPexRequest, ID: 5, Payload: payload}))
			for {
				f, err := p.next()
				if err != nil {
					if isTimeout(err) {
						t.Fatal("the link stayed open")
					}
					break // closed
				}
				if f.ID == 5 {
					t.Fatalf("answered with %s, want the link closed", f.Kind)
				}
			}
			if got := srv.Stats().ProtocolErrors; got != before+1 {
				t.Fatalf("ProtocolErrors %d, want %d", got, before+1)
			}
		})
	}
	off := startNode(t, "off", echo, WithEventLoops(1))
	p := dialRaw(t, off.Addr())
	p.hello("asker", "127.0.0.1:1")
	p.write(codec.Append(nil, codec.Frame{Kind: codec.KindPexRequest, ID: 6}))
	if f := p.read(); f.Kind != codec.KindError || f.ID != 6 || string(f.Payload) != "\x03unknown frame kind 12" {
		t.Fatalf("discovery off: %s id %d %q, want code 3 \"unknown frame kind 12\"", f.Kind, f.ID, f.Payload)
	}
}
