package engine

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/proto"
)

// between reports whether every node has from lo to hi links and no
// learned dial in flight.
func between(nodes []*Node, lo, hi int) bool {
	for _, n := range nodes {
		if l := len(n.linkedPeers()); l < lo || l > hi || learnedDials(n) > 0 {
			return false
		}
	}
	return true
}

func TestConnManagerKeepsLinksBetweenMarks(t *testing.T) {
	const size, low, high = 24, 3, 6
	m := &mesh{d: newDeliveries(), deg: make([]int, size)}
	opts := []Option{WithEventLoops(1), WithMinLinks(low), WithMaxLinks(high), WithLinkGrace(300 * time.Millisecond)}
	start := time.Now()
	for i := range size {
		name := fmt.Sprint("c", i)
		m.nodes = append(m.nodes, startNode(t, name, m.d.handler(name), opts...))
		if i > 0 {
			linkNodes(t, m.nodes[i], m.nodes[0]) // everyone is told only the bootstrap
		}
	}
	eventually(t, 30*time.Second, fmt.Sprintf("every node between %d and %d links", low, high), func() bool {
		return between(m.nodes, low, high)
	})
	formed := time.Since(start)
	if got := m.nodes[0].Stats().LinksTrimmed; got == 0 {
		t.Fatal("the bootstrap never trimmed a link")
	}
	for i, n := range m.nodes {
		m.deg[i] = len(n.linkedPeers())
	}
	t.Logf("%d nodes, marks %d..%d: settled in %v, degrees %v, bootstrap trimmed %d", size, low, high,
		formed.Round(time.Millisecond), m.deg, m.nodes[0].Stats().LinksTrimmed)
	m.broadcastAll(t, size, rand.New(rand.NewPCG(7, 8))) // the graph is connected: each reaches every node once
}

func TestTrimmedPeerWaitsBeforeRedialing(t *testing.T) {
	hub := startNode(t, "hub", echo, WithEventLoops(1), WithMinLinks(1), WithMaxLinks(1), WithLinkGrace(50*time.Millisecond))
	trimmed, _ := trimOneSpoke(t, hub, WithRedialMaxBackoff(time.Hour))
	e := trimmed.routes.table.Get(hub.Addr())
	eventually(t, 5*time.Second, "a redial scheduled", func() bool {
		_, ok := trimmed.upkeep.Redials()[e]
		return ok
	})
	wait := time.Until(trimmed.upkeep.Redials()[e].Due)
	if wait < 40*time.Minute {
		t.Fatalf("the retired spoke redials the hub in %v, want about WithRedialMaxBackoff (1h)", wait)
	}
	for _, st := range trimmed.PeerStates() {
		if st.ID.Addr == hub.Addr() && st.State != BackingOff {
			t.Fatalf("the hub's route is %v, want backing off", st.State)
		}
	}
	// The hub retired the link itself: it does not park the spoke (only the
	// receiver of the goaway does).
	eventually(t, 5*time.Second, "the hub's retired link closed", func() bool { return hub.Stats().Conns == 1 })
	for _, p := range hub.AddressBook() {
		if p.ID.Addr == trimmed.Addr() && time.Until(p.NextDial) > 5*time.Second {
			t.Fatalf("the hub parked the spoke it retired for %v", time.Until(p.NextDial))
		}
	}
}

func TestTrimGoawaySaysTooManyLinks(t *testing.T) {
	var downs = make(chan PeerEvent, 8)
	hub := startNode(t, "hub", echo, WithEventLoops(1), WithMinLinks(1), WithMaxLinks(1), WithLinkGrace(50*time.Millisecond),
		WithPeerEvents(func(ev PeerEvent) {
			if !ev.Up {
				downs <- ev
			}
		}))
	keep := startNode(t, "keep", echo, WithEventLoops(1))
	if err := hub.AddRoute("keep", keep.Addr()); err != nil { // static: never trimmed
		t.Fatal(err)
	}
	own := rawListener(t)
	p := dialRaw(t, hub.Addr())
	p.hello("raw", own.Addr().String())
	for {
		f := p.read()
		if f.Kind != codec.KindGoaway {
			continue // pings, a pex-request
		}
		if len(f.Payload) != 1 || f.Payload[0] != proto.GoawayTooManyLinks {
			t.Fatalf("goaway payload %x, want %x", f.Payload, proto.GoawayTooManyLinks)
		}
		break
	}
	p.write(codec.Append(nil, codec.Frame{Kind: codec.KindGoaway}))
	p.closedBy(2 * time.Second)
	select {
	case ev := <-downs:
		if ev.Reason != ReasonTooManyLinks || ev.Peer.Name != "raw" {
			t.Fatalf("down event %+v (%v), want raw, too many links", ev, ev.Reason)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no down event")
	}
	if l := hub.routes.table.Get(keep.Addr()).Link(); l == nil {
		t.Fatal("the static route was trimmed")
	}
}

// dialRawFrom is dialRaw from a given loopback source address.
func dialRawFrom(t *testing.T, src, addr string) *rawPeer {
	t.Helper()
	d := net.Dialer{Timeout: time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &rawPeer{t: t, c: c, r: bufio.NewReader(c)}
}

// helloRefused sends a hello and returns the refusal's payload as it came
// on the wire: code byte, then the message.
func (p *rawPeer) helloRefused(name, addr string) string {
	p.t.Helper()
	payload := proto.AppendHello(nil, proto.Hello{ID: proto.PeerID{Name: name, Addr: addr}, Nonce: rand.Uint64()})
	p.write(codec.Append(nil, codec.Frame{Kind: codec.KindHello, Payload: payload}))
	f := p.read()
	if f.Kind != codec.KindError || f.ID != 0 {
		p.t.Fatalf("want a refusal (error-response, id 0), got %s id %d", f.Kind, f.ID)
	}
	p.closedBy(2 * time.Second)
	return string(f.Payload)
}

func TestInboundAndPerIPCaps(t *testing.T) {
	srv := startNode(t, "srv", echo, WithEventLoops(1), WithMaxInbound(2), WithMaxLinksPerIP(1))
	// Per IP: one link from 127.0.0.1; a second is refused, another IP is not.
	a := startNode(t, "a", echo, WithEventLoops(1))
	linkNodes(t, a, srv)
	p := dialRawFrom(t, "127.0.0.1", srv.Addr())
	// The refusals carry the spec's text, code 3 first; not the dialer's
	// "refused by peer" wording.
	if msg, want := p.helloRefused("b", "127.0.0.1:1"), "\x03connmgr: too many links from one IP address: 1 from 127.0.0.1"; msg != want {
		t.Fatalf("refusal %q, want %q", msg, want)
	}
	p2 := dialRawFrom(t, "127.0.0.2", srv.Addr())
	p2.hello("c", "127.0.0.2:1")
	// Inbound: two links now; a third IP is refused by the inbound cap.
	p3 := dialRawFrom(t, "127.0.0.3", srv.Addr())
	msg, want := p3.helloRefused("d", "127.0.0.3:1"), "\x03connmgr: too many inbound links: 2"
	if msg != want {
		t.Fatalf("refusal %q, want %q", msg, want)
	}
	mustBeInProtocolDoc(t, codec.Frame{Kind: codec.KindError, Payload: []byte(msg)})
	// The dialer of a capped node gets ErrRefused, with the reason, once.
	e := startNode(t, "e", echo, WithEventLoops(1))
	err := e.AddRoute("srv", srv.Addr())
	mustErrIs(t, err, ErrRefused)
	if c := strings.Count(err.Error(), "refused by peer"); c != 1 || !strings.Contains(err.Error(), "connmgr: too many inbound links: 2") {
		t.Fatalf("dialer's error %q: want \"refused by peer\" once, and the reason", err)
	}
	// A static route of the capped node, and a peer already linked, are let in.
	f := startNode(t, "f", echo, WithEventLoops(1))
	if err := srv.AddRoute("f", f.Addr()); err != nil {
		t.Fatal(err)
	}
	if err := f.AddRoute("srv", srv.Addr()); err != nil {
		t.Fatal(err)
	}
	if got := srv.Stats().Refused; got != 3 {
		t.Fatalf("Stats.Refused = %d, want 3", got)
	}
}

func TestNetworkReformsAfterRestarts(t *testing.T) {
	const size, low, high, killed = 30, 3, 6, 6 // 20%
	m := &mesh{d: newDeliveries(), deg: make([]int, size)}
	opts := []Option{WithEventLoops(1), WithMinLinks(low), WithMaxLinks(high), WithLinkGrace(300 * time.Millisecond),
		WithRedialMaxBackoff(2 * time.Second)}
	start := func(i int, listen string) *Node {
		name := fmt.Sprint("r", i)
		n := startNodeAt(t, name, listen, m.d.handler(name), opts...)
		if i > 0 {
			linkNodes(t, n, m.nodes[0])
		}
		return n
	}
	for i := range size {
		m.nodes = append(m.nodes, nil)
		m.nodes[i] = start(i, "127.0.0.1:0")
	}
	settle := func(what string) time.Duration {
		t0 := time.Now()
		eventually(t, 30*time.Second, what, func() bool { return between(m.nodes, low, high) })
		for i, n := range m.nodes {
			m.deg[i] = len(n.linkedPeers())
		}
		return time.Since(t0)
	}
	formed := settle("the network formed")
	rng := rand.New(rand.NewPCG(9, 10))
	victims := rng.Perm(size - 1)[:killed] // the bootstrap stays: the restarted nodes are told only it
	for _, v := range victims {
		_ = m.nodes[v+1].Close()
	}
	for _, v := range victims {
		i := v + 1
		m.nodes[i] = start(i, m.nodes[i].Addr())
	}
	reformed := settle("the network re-formed")
	t.Logf("%d nodes: formed in %v; %d killed and restarted, re-formed in %v; degrees %v", size,
		formed.Round(time.Millisecond), killed, reformed.Round(time.Millisecond), m.deg)
	m.broadcastAll(t, 10, rng) // every live node, exactly once
}

// A node with WithMinLinks whose static route was trimmed by a full peer
// does not dial that peer again while it has its minimum of links: else
// every node started from one bootstrap would dial it again every
// WithRedialMaxBackoff, for ever (the discovery bench saw 969 of 999
// nodes come back to the bootstrap at once).
func TestTrimmedStaticRouteWaitsWhileLinked(t *testing.T) {
	const park = 150 * time.Millisecond
	hub := startNode(t, "hub", echo, WithEventLoops(1), WithMinLinks(1), WithMaxLinks(1), WithLinkGrace(50*time.Millisecond))
	trimmed, other := trimOneSpoke(t, hub, WithMinLinks(1), WithRedialMaxBackoff(park))
	redials := trimmed.Stats().Redials
	e := trimmed.routes.table.Get(hub.Addr())
	// Its redial falls due again and again (every park): each time it
	// waits on, without a dial.
	var dues []time.Time
	eventually(t, 10*time.Second, "the redial of the hub put off three times", func() bool {
		if r, ok := trimmed.upkeep.Redials()[e]; ok && (len(dues) == 0 || !r.Due.Equal(dues[len(dues)-1])) {
			dues = append(dues, r.Due)
		}
		return len(dues) >= 4 || trimmed.Stats().Redials != redials
	})
	if got := trimmed.Stats().Redials; got != redials {
		t.Fatalf("the trimmed spoke redialed the hub %d times while it had its minimum of links", got-redials)
	}
	if got := hub.Stats().LinksTrimmed; got != 1 {
		t.Fatalf("the hub trimmed %d links, want 1", got)
	}
	// Below its minimum it dials the hub again.
	if err := trimmed.Delete(other.Addr()); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the spoke linked to the hub again", func() bool {
		return trimmed.routes.table.Get(hub.Addr()).Link() != nil
	})
}

// trimOneSpoke links two spokes to hub (a static route on their side) and
// to another node, so that a spoke whose hub link is retired still has a
// link, and returns the spoke hub (WithMaxLinks(1)) retired once it has,
// and the other node.
func trimOneSpoke(t *testing.T, hub *Node, spokeOpts ...Option) (trimmed, other *Node) {
	t.Helper()
	other = startNode(t, "other", echo, WithEventLoops(1))
	var spokes []*Node
	for i := range 2 {
		s := startNode(t, fmt.Sprint("spoke", i), echo, append([]Option{WithEventLoops(1)}, spokeOpts...)...)
		linkNodes(t, s, other)
		linkNodes(t, s, hub)
		spokes = append(spokes, s)
	}
	eventually(t, 10*time.Second, "the hub back at one link, a spoke without its link", func() bool {
		for _, s := range spokes {
			if s.routes.table.Get(hub.Addr()).Link() == nil {
				trimmed = s
			}
		}
		return trimmed != nil && len(hub.linkedPeers()) == 1 && hub.Stats().LinksTrimmed == 1
	})
	return trimmed, other
}
