package engine

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/internal/graph"
	"github.com/antnet-p2p/antnet/proto"
)

// deliveries counts, per node, how often each broadcast body reached its
// handler, and checks the origin the handler is told.
type deliveries struct {
	mu  sync.Mutex
	got map[string]map[string]int // node name -> body -> count
	bad []string
}

func newDeliveries() *deliveries { return &deliveries{got: map[string]map[string]int{}} }

func (d *deliveries) handler(name string) proto.Handler {
	return proto.HandlerFunc(func(ctx proto.Context, msg []byte) ([]byte, error) {
		if ctx.Kind() != codec.KindGossip {
			return []byte("echo:" + string(msg)), nil
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.got[name] == nil {
			d.got[name] = map[string]int{}
		}
		body := string(msg)
		d.got[name][body]++
		if want := originOfBody(body); ctx.Origin().Name != want {
			d.bad = append(d.bad, fmt.Sprintf("%s: %q from origin %v", name, body, ctx.Origin()))
		}
		return nil, nil
	})
}

// Bodies are "origin|k".
func originOfBody(b string) string {
	for i := range b {
		if b[i] == '|' {
			return b[:i]
		}
	}
	return ""
}

func (d *deliveries) count(node, body string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.got[node][body]
}

// mesh is a set of nodes joined by the given edges (persistent links).
type mesh struct {
	nodes []*Node
	deg   []int
	d     *deliveries
	seq   int      // makes every body unique
	sent  []string // bodies broadcast, in order
}

func buildMesh(t *testing.T, size int, edges [][2]int, opts ...Option) *mesh {
	t.Helper()
	m := &mesh{d: newDeliveries(), deg: make([]int, size)}
	opts = append([]Option{WithEventLoops(1)}, opts...)
	for i := range size {
		name := fmt.Sprint("g", i)
		m.nodes = append(m.nodes, startNode(t, name, m.d.handler(name), opts...))
	}
	for _, e := range edges {
		linkNodes(t, m.nodes[e[0]], m.nodes[e[1]])
		m.deg[e[0]]++
		m.deg[e[1]]++
	}
	if m.nodes[0].Mode() == Persistent {
		eventually(t, 5*time.Second, "links up", func() bool {
			for i, n := range m.nodes {
				if liveLinks(n) != m.deg[i] {
					return false
				}
			}
			return true
		})
	}
	return m
}

func (m *mesh) sumDeg() int {
	s := 0
	for _, d := range m.deg {
		s += d
	}
	return s
}

func (m *mesh) totals() (forwarded, received uint64) {
	for _, n := range m.nodes {
		s := n.Stats()
		forwarded += s.GossipForwarded
		received += s.GossipDelivered + s.GossipDuplicates
	}
	return
}

// reforwarded is the mesh's total of frames sent again for a better ttl.
func (m *mesh) reforwarded() (sum uint64) {
	for _, n := range m.nodes {
		sum += n.Stats().GossipReforwarded
	}
	return sum
}

// broadcastAll sends count broadcasts from random origins, one at a time,
// and checks each reaches every node exactly once and costs no more frames
// than the sum of degrees.
func (m *mesh) broadcastAll(t *testing.T, count int, rng *rand.Rand) {
	t.Helper()
	for k := range count {
		// Flooding sends each frame once per direction of each link, and
		// each relay again for a better ttl re-sends on at most every link.
		if frames, again := m.broadcastOnce(t, rng); frames > m.sumDeg()+int(again)*len(m.nodes) {
			t.Fatalf("broadcast %d cost %d frames (%d relays again), sum of degrees %d", k, frames, again, m.sumDeg())
		}
	}
	if len(m.d.bad) > 0 {
		t.Fatalf("wrong origins: %v", m.d.bad)
	}
}

// broadcastOnce sends one broadcast from a random origin, waits until every
// node has it and every frame sent has landed, checks each node delivered
// it exactly once, and returns the payload frames it cost and how many
// nodes relayed it again for a better ttl.
func (m *mesh) broadcastOnce(t *testing.T, rng *rand.Rand) (frames int, again uint64) {
	t.Helper()
	o := m.nodes[rng.IntN(len(m.nodes))]
	m.seq++
	body := fmt.Sprintf("%s|%d", o.ID().Name, m.seq)
	m.sent = append(m.sent, body)
	fwd0, _ := m.totals()
	again0 := m.reforwarded()
	if _, err := o.Broadcast([]byte(body)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "broadcast "+body+" everywhere", func() bool {
		for _, n := range m.nodes {
			if n != o && m.d.count(n.ID().Name, body) == 0 {
				return false
			}
		}
		fwd, recv := m.totals()
		return fwd == recv // every frame sent has been received
	})
	fwd, _ := m.totals()
	again = m.reforwarded() - again0
	for _, n := range m.nodes {
		want := 1
		if n == o {
			want = 0
		}
		if c := m.d.count(n.ID().Name, body); c != want {
			t.Fatalf("%s delivered %q %d times, want %d", n.ID(), body, c, want)
		}
	}
	return int(fwd - fwd0), again
}

func line(n int) (e [][2]int) {
	for i := 0; i+1 < n; i++ {
		e = append(e, [2]int{i, i + 1})
	}
	return e
}

func ring(n int) [][2]int { return append(line(n), [2]int{n - 1, 0}) }

func star(n int) (e [][2]int) {
	for i := 1; i < n; i++ {
		e = append(e, [2]int{0, i})
	}
	return e
}

func full(n int) (e [][2]int) {
	for i := range n {
		for j := i + 1; j < n; j++ {
			e = append(e, [2]int{i, j})
		}
	}
	return e
}

func TestBroadcastTopologies(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		name  string
		size  int
		edges [][2]int
	}{
		{"line", 10, line(10)},
		{"ring", 12, ring(12)},
		{"star", 12, star(12)},
		{"full mesh", 8, full(8)},
		{"random 50 nodes degree 5", 50, graph.Random(50, 5, rng)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := buildMesh(t, tc.size, tc.edges)
			avg := float64(m.sumDeg()) / float64(tc.size)
			m.broadcastAll(t, 100, rng)
			fwd, _ := m.totals()
			var dups uint64
			for _, n := range m.nodes {
				dups += n.Stats().GossipDuplicates
			}
			t.Logf("%d nodes, avg degree %.1f: %.1f frames per broadcast (sum of degrees %d), %d duplicate frames dropped",
				tc.size, avg, float64(fwd)/100, m.sumDeg(), dups)
		})
	}
}

func TestBroadcastLateJoiner(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	m := buildMesh(t, 6, ring(6))
	m.broadcastAll(t, 10, rng)
	late := startNode(t, "late", m.d.handler("late"), WithEventLoops(1))
	linkNodes(t, late, m.nodes[3])
	m.nodes = append(m.nodes, late)
	m.deg = append(m.deg, 1)
	m.deg[3]++
	eventually(t, time.Second, "late link", func() bool { return liveLinks(late) == 1 && liveLinks(m.nodes[3]) == 3 })
	m.broadcastAll(t, 10, rng) // checks late got each of these once
	m.d.mu.Lock()
	defer m.d.mu.Unlock()
	for _, body := range m.sent[:10] {
		if m.d.got["late"][body] != 0 {
			t.Fatalf("late joiner got %q, sent before it joined", body)
		}
	}
	if len(m.d.got["late"]) == 0 {
		t.Fatal("late joiner got nothing")
	}
}

func TestBroadcastReplayAndTTL(t *testing.T) {
	d := newDeliveries()
	srv := startNode(t, "srv", d.handler("srv"))
	other := startNode(t, "other", d.handler("other"))
	linkNodes(t, srv, other)
	p := dialRaw(t, srv.Addr())
	p.hello("raw", "127.0.0.1:3")
	eventually(t, time.Second, "raw peer routed", func() bool { return len(srv.Peers()) == 2 })

	p.write(rawGossip(42, 3, "raw|a"))
	// srv relays before it counts and delivers its own copy: wait for both.
	eventually(t, time.Second, "delivery at srv and relay to other", func() bool {
		return d.count("srv", "raw|a") == 1 && d.count("other", "raw|a") == 1
	})
	s := srv.Stats()
	if s.GossipDelivered != 1 || s.GossipForwarded != 1 {
		t.Fatalf("first sight: %+v", s)
	}
	// The same id again, even with another body: dropped, counted, not relayed.
	p.write(rawGossip(42, 3, "raw|a"))
	p.write(rawGossip(42, 3, "raw|b"))
	eventually(t, time.Second, "duplicates counted", func() bool { return srv.Stats().GossipDuplicates == 2 })
	if d.count("srv", "raw|a") != 1 || d.count("srv", "raw|b") != 0 || srv.Stats().GossipForwarded != 1 {
		t.Fatalf("replay was delivered or relayed: %+v", srv.Stats())
	}
	// ttl 0: delivered here, not forwarded.
	p.write(rawGossip(43, 0, "raw|c"))
	eventually(t, time.Second, "ttl 0 delivered", func() bool { return d.count("srv", "raw|c") == 1 })
	if s := srv.Stats(); s.GossipExpired != 1 || s.GossipForwarded != 1 {
		t.Fatalf("ttl 0: %+v", s)
	}
	// The broadcast also came back from other? No: other does not send it
	// back to the link it came from.
	if other.Stats().GossipForwarded != 0 {
		t.Fatalf("other relayed back to its only peer: %+v", other.Stats())
	}
}

func TestBroadcastShortMode(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	// Short-mode routes are one-way: add both directions of each edge.
	edges := ring(5)
	for _, e := range ring(5) {
		edges = append(edges, [2]int{e[1], e[0]})
	}
	m := buildMesh(t, 5, edges, WithMode(Short))
	for i := range m.deg {
		m.deg[i] /= 2
	}
	m.broadcastAll(t, 10, rng)
}

// rawGossip is a gossip frame from the raw test peer raw@127.0.0.1:3.
func rawGossip(id uint64, ttl uint8, body string) []byte {
	payload := proto.AppendGossip(nil, proto.PeerID{Name: "raw", Addr: "127.0.0.1:3"}, []byte(body))
	return codec.Append(nil, codec.Frame{Kind: codec.KindGossip, TTL: ttl, ID: id, Payload: payload})
}

// A broadcast whose first copy arrives with its ttl spent still reaches the
// nodes behind: the later copy with more ttl left is forwarded (not
// delivered again). Before, it was dropped as a duplicate and the leaf
// behind never got the broadcast.
func TestBroadcastLaterCopyWithMoreTTL(t *testing.T) {
	d := newDeliveries()
	mid := startNode(t, "mid", d.handler("mid"))
	leaf := startNode(t, "leaf", d.handler("leaf"))
	linkNodes(t, leaf, mid)
	p := dialRaw(t, mid.Addr())
	p.hello("raw", "127.0.0.1:3")
	eventually(t, time.Second, "raw peer routed", func() bool { return len(mid.Peers()) == 2 })

	p.write(rawGossip(77, 0, "raw|x")) // the copy that came the long way: delivered, not forwarded
	eventually(t, time.Second, "spent copy delivered", func() bool { return d.count("mid", "raw|x") == 1 })
	p.write(rawGossip(77, 2, "raw|x")) // the short way: more budget
	eventually(t, time.Second, "leaf reached by the better copy", func() bool { return d.count("leaf", "raw|x") == 1 })
	p.write(rawGossip(77, 1, "raw|x")) // worse than the best so far: dropped
	eventually(t, time.Second, "three copies seen", func() bool { return mid.Stats().GossipDuplicates == 2 })
	s := mid.Stats()
	if d.count("mid", "raw|x") != 1 || s.GossipReforwarded != 1 || s.GossipForwarded != 1 {
		t.Fatalf("mid delivered %d times; stats %+v", d.count("mid", "raw|x"), s)
	}
	if ls := leaf.Stats(); ls.GossipDelivered != 1 || ls.GossipDuplicates != 0 {
		t.Fatalf("leaf: %+v", ls)
	}
}

// Broadcast says when it went out on no link.
func TestBroadcastWithNoLink(t *testing.T) {
	n := startNode(t, "alone", nil)
	id, err := n.Broadcast([]byte("anyone?"))
	mustErrIs(t, err, ErrNotConnected)
	if id == 0 {
		t.Fatal("no id")
	}
	peer := startNode(t, "peer", nil)
	linkNodes(t, n, peer)
	if _, err := n.Broadcast([]byte("hello")); err != nil {
		t.Fatal(err)
	}
}

// Every broadcast an antnet origin starts is stamped; every node that
// delivers it records the delay, the origin does not; an unstamped frame is
// delivered without a record, and a stamped one too short for its stamp
// closes the link.
func TestBroadcastDelayRecorded(t *testing.T) {
	d := newDeliveries()
	a := startNode(t, "a", d.handler("a"))
	b := startNode(t, "b", d.handler("b"))
	c := startNode(t, "c", d.handler("c"))
	linkNodes(t, a, b)
	linkNodes(t, b, c)
	for i := range 5 {
		if _, err := a.Broadcast([]byte(fmt.Sprintf("a|%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []*Node{b, c} {
		eventually(t, 2*time.Second, n.ID().Name+" delivered 5", func() bool { return n.BroadcastDelay().Count == 5 })
		if h := n.BroadcastDelay(); h.Sum <= 0 || h.Sum > 5*time.Second {
			t.Fatalf("%s: delay sum %v", n.ID(), h.Sum)
		}
	}
	if a.BroadcastDelay().Count != 0 {
		t.Fatal("the origin recorded its own broadcast")
	}

	p := dialRaw(t, c.Addr())
	p.hello("raw", "127.0.0.1:3")
	p.write(rawGossip(91, 0, "raw|plain")) // unstamped: delivered, not recorded
	eventually(t, time.Second, "unstamped delivered", func() bool { return d.count("c", "raw|plain") == 1 })
	if c.BroadcastDelay().Count != 5 {
		t.Fatal("an unstamped broadcast was recorded")
	}
	short := proto.AppendGossip(nil, proto.PeerID{Name: "raw", Addr: "127.0.0.1:3"}, []byte("7bytes!"))
	p.write(codec.Append(nil, codec.Frame{Kind: codec.KindGossip, Flags: proto.FlagStamped, ID: 92, Payload: short}))
	p.closedBy(2 * time.Second)
}

// The default hop budget covers a tree's depth, which runs past the
// shortest paths: a broadcast from one end of a line of 30 nodes (29 hops)
// reaches the other end with no WithGossipTTL.
func TestDefaultTTLCoversADeepTree(t *testing.T) {
	const size = 30
	m := buildMesh(t, size, line(size))
	first, last := m.nodes[0], m.nodes[size-1]
	if _, err := first.Broadcast([]byte("far")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the broadcast at the line's far end", func() bool {
		return m.d.count(last.ID().Name, "far") == 1
	})
	if n := last.Stats().GossipExpired; n != 0 {
		t.Fatalf("the far end's copy had its budget spent (%d expired)", n)
	}
}
