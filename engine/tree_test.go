package engine

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/broadcast"
	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/internal/graph"
	"github.com/antnet-p2p/antnet/proto"
)

// treeTotals sums the mesh's broadcast-tree stats.
func (m *mesh) treeTotals() (s broadcast.Stats) {
	for _, n := range m.nodes {
		s.Add(n.BroadcastStats())
	}
	return s
}

// TestBroadcastTreeSendsAboutOneCopyPerNode: over real sockets, once a few
// broadcasts have pruned the mesh to a tree, each node is sent each payload
// about once, and every node still delivers every broadcast once.
func TestBroadcastTreeSendsAboutOneCopyPerNode(t *testing.T) {
	const size = 24
	edges := graph.Random(size, 4, rand.New(rand.NewPCG(9, 9)))
	m := buildMesh(t, size, edges)
	rng := rand.New(rand.NewPCG(1, 2))
	m.broadcastAll(t, 8, rng) // shapes the tree
	fwd0, _ := m.totals()
	const count = 20
	m.broadcastAll(t, count, rng)
	fwd, _ := m.totals()
	perDelivery := float64(fwd-fwd0) / float64(count*(size-1))
	s := m.treeTotals()
	t.Logf("%.2f payload copies per delivery; %d eager, %d lazy link ends; %d prunes", perDelivery, s.EagerLinks, s.LazyLinks, s.PrunesSent)
	if perDelivery > 1.3 {
		t.Fatalf("%.2f payload copies per delivery, want at most 1.3", perDelivery)
	}
	if s.LazyLinks == 0 || s.PrunesSent == 0 || s.FloodLinks != 0 {
		t.Fatalf("no tree formed: %+v", s)
	}
}

// TestBroadcastMixedNetwork: a third of the nodes know no trees; links
// touching them flood, the others run trees, and every broadcast still
// reaches every node exactly once.
func TestBroadcastMixedNetwork(t *testing.T) {
	const size = 12
	edges := graph.Random(size, 4, rand.New(rand.NewPCG(3, 4)))
	m := &mesh{d: newDeliveries(), deg: make([]int, size)}
	for i := range size {
		opts := []Option{WithEventLoops(1)}
		if i%3 == 0 {
			opts = append(opts, WithBroadcastFlooding())
		}
		name := "g" + string(rune('a'+i))
		m.nodes = append(m.nodes, startNode(t, name, m.d.handler(name), opts...))
	}
	floodEnds := 0
	for _, e := range edges {
		linkNodes(t, m.nodes[e[0]], m.nodes[e[1]])
		m.deg[e[0]]++
		m.deg[e[1]]++
		if e[0]%3 == 0 || e[1]%3 == 0 {
			floodEnds += 2
		}
	}
	eventually(t, 5*time.Second, "links up", func() bool {
		for i, n := range m.nodes {
			if liveLinks(n) != m.deg[i] {
				return false
			}
		}
		return true
	})
	m.broadcastAll(t, 20, rand.New(rand.NewPCG(5, 6)))
	s := m.treeTotals()
	if s.FloodLinks != floodEnds {
		t.Fatalf("%d flooding link ends, want %d (every link touching a flood-only node)", s.FloodLinks, floodEnds)
	}
	for i, n := range m.nodes {
		if st := n.BroadcastStats(); i%3 == 0 && (st.PrunesSent != 0 || st.IHavesSent != 0 || st.GraftsSent != 0) {
			t.Fatalf("flood-only %s sent tree control frames: %+v", n.ID(), st)
		}
	}
}

// helloFlags sends a hello with flags and returns the hello-ack.
func (p *rawPeer) helloFlags(name, addr string, flags uint8) codec.Frame {
	p.t.Helper()
	payload := proto.AppendHello(nil, proto.Hello{ID: proto.PeerID{Name: name, Addr: addr}, Nonce: 7})
	p.write(codec.Append(nil, codec.Frame{Kind: codec.KindHello, Flags: flags, Payload: payload}))
	f := p.read()
	if f.Kind != codec.KindHelloAck {
		p.t.Fatalf("want hello-ack, got %s", f.Kind)
	}
	return f
}

// readKind returns the next frame of kind k, skipping others (pings).
func (p *rawPeer) readKind(k codec.Kind) codec.Frame {
	p.t.Helper()
	for {
		if f := p.read(); f.Kind == k {
			return f
		}
	}
}

// TestTreeWire reads the tree's frames off the wire: FlagTrees in the
// hello-ack, a graft for an id announced and never sent, and a malformed
// ihave closing the link.
func TestTreeWire(t *testing.T) {
	n := startNode(t, "srv", nil)
	p := dialRaw(t, n.Addr())
	if ack := p.helloFlags("raw", "127.0.0.1:3", proto.FlagTrees); ack.Flags&proto.FlagTrees == 0 {
		t.Fatalf("hello-ack flags %#x: no FlagTrees", ack.Flags)
	}
	eventually(t, time.Second, "raw peer routed", func() bool { return len(n.Peers()) == 1 })
	p.write(codec.Append(nil, codec.Frame{Kind: codec.KindIHave, Payload: proto.AppendIHave(nil, []proto.Have{{ID: 0xabc1, TTL: 5}})}))
	f := p.readKind(codec.KindGraft)
	ids, err := proto.ParseGraft(nil, f.Payload)
	if err != nil || len(ids) != 1 || ids[0] != 0xabc1 || f.ID != 0 {
		t.Fatalf("graft %x: ids %x, %v", f.Payload, ids, err)
	}
	// Answer the graft: the node delivers it (once) and prunes nothing.
	p.write(rawGossip(0xabc1, 5, "raw|g"))
	eventually(t, time.Second, "grafted broadcast delivered", func() bool { return n.Stats().GossipDelivered == 1 })
	p.write(codec.Append(nil, codec.Frame{Kind: codec.KindIHave, Payload: []byte{0}}))
	p.closedBy(2 * time.Second)
}

// TestTreeControlOnAFloodingLinkIsIgnored: a peer that did not offer
// FlagTrees gets no control frames, and its own are ignored, not fatal.
func TestTreeControlOnAFloodingLinkIsIgnored(t *testing.T) {
	n := startNode(t, "srv", nil)
	p := dialRaw(t, n.Addr())
	p.helloFlags("raw", "127.0.0.1:3", 0)
	eventually(t, time.Second, "raw peer routed", func() bool { return len(n.Peers()) == 1 })
	p.write(codec.Append(nil, codec.Frame{Kind: codec.KindIHave, Payload: proto.AppendIHave(nil, []proto.Have{{ID: 0xabc1, TTL: 5}})}))
	p.write(codec.Append(nil, codec.Frame{Kind: codec.KindPing, ID: 42}))
	if f := p.read(); f.Kind != codec.KindPong || f.ID != 42 {
		t.Fatalf("want pong 42, got %s %d", f.Kind, f.ID)
	}
	if s := n.BroadcastStats(); s.Unsolicited != 1 || s.Missing != 0 || s.FloodLinks != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// TestTreeHostileAnnouncer: a peer announcing ids it never sends makes the
// node wait for at most MaxMissingPerLink of them, and the node keeps
// relaying real broadcasts to its other peers.
func TestTreeHostileAnnouncer(t *testing.T) {
	d := newDeliveries()
	n := startNode(t, "srv", d.handler("srv"))
	good := startNode(t, "good", d.handler("good"))
	other := startNode(t, "other", d.handler("other"))
	linkNodes(t, good, n)
	linkNodes(t, other, n)
	p := dialRaw(t, n.Addr())
	p.helloFlags("liar", "127.0.0.1:3", proto.FlagTrees)
	eventually(t, time.Second, "liar routed", func() bool { return len(n.Peers()) == 3 })
	const fake = 3 * broadcast.MaxMissingPerLink
	var batch []byte
	for i := 0; i < fake; i += proto.MaxTreeIDs {
		haves := make([]proto.Have, proto.MaxTreeIDs)
		for j := range haves {
			haves[j] = proto.Have{ID: uint64(1_000_000 + i + j), TTL: 9}
		}
		batch = codec.Append(batch, codec.Frame{Kind: codec.KindIHave, Payload: proto.AppendIHave(nil, haves)})
	}
	p.write(batch)
	eventually(t, 2*time.Second, "announcements taken", func() bool {
		s := n.BroadcastStats()
		return s.IDsHeard+s.IDsIgnored >= fake
	})
	if s := n.BroadcastStats(); s.Missing > broadcast.MaxMissingPerLink || s.IDsIgnored == 0 {
		t.Fatalf("a liar made the node wait for %d ids (bound %d): %+v", s.Missing, broadcast.MaxMissingPerLink, s)
	}
	if _, err := good.Broadcast([]byte("good|1")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "real broadcast relayed past the liar's noise", func() bool { return d.count("other", "good|1") == 1 })
}

// TestBroadcastTreeWhileLinksChurn: links are deleted and added back while
// broadcasts run (the graph stays connected); every broadcast still
// reaches every node exactly once.
func TestBroadcastTreeWhileLinksChurn(t *testing.T) {
	const size = 16
	edges := graph.Random(size, 4, rand.New(rand.NewPCG(7, 7)))
	m := buildMesh(t, size, edges)
	rng := rand.New(rand.NewPCG(8, 8))
	live := map[[2]int]bool{}
	for _, e := range edges {
		live[e] = true
	}
	var cut [][2]int
	for round := range 12 {
		m.broadcastOnce(t, rng)
		// Cut a link whose loss keeps the graph connected, and bring back
		// one cut earlier.
		for _, e := range edges {
			if !live[e] {
				continue
			}
			rest := make([][2]int, 0, len(live))
			for k := range live {
				if k != e {
					rest = append(rest, k)
				}
			}
			if graph.Connected(size, rest) {
				a, b := m.nodes[e[0]], m.nodes[e[1]]
				if err := a.Delete(b.ID().String()); err != nil {
					t.Fatal(err)
				}
				delete(live, e)
				cut = append(cut, e)
				break
			}
		}
		if round%2 == 1 && len(cut) > 0 {
			e := cut[0]
			cut = cut[1:]
			linkNodes(t, m.nodes[e[0]], m.nodes[e[1]])
			live[e] = true
		}
		m.broadcastOnce(t, rng)
	}
}
