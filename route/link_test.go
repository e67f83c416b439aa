package route_test

import (
	"fmt"
	"testing"

	"github.com/antnet-p2p/antnet/proto"
	"github.com/antnet-p2p/antnet/route"
)

// fakeLink is a route.Link. Compare by pointer.
type fakeLink struct {
	name     string
	outbound bool
	inFlight int
	key      string
	nonce    uint64
}

func (l *fakeLink) Outbound() bool  { return l.outbound }
func (l *fakeLink) InFlight() int   { return l.inFlight }
func (l *fakeLink) Key() string     { return l.key }
func (l *fakeLink) Nonce() uint64   { return l.nonce }
func (l *fakeLink) String() string  { return l.name }
func out(name string) *fakeLink     { return &fakeLink{name: name, outbound: true, nonce: highNonce} }
func inbound(name string) *fakeLink { return &fakeLink{name: name, nonce: highNonce} }

// fakeEntry and fakeTable are the table's types with fake links.
type (
	fakeEntry = route.Entry[fakeLink, *fakeLink]
	fakeTable = route.Table[fakeLink, *fakeLink]
)

func linkName(l route.Link) string {
	if fl, _ := l.(*fakeLink); fl != nil {
		return fl.name
	}
	return "nil"
}

var (
	low  = proto.PeerID{Name: "a", Addr: "10.0.0.1:1"}
	high = proto.PeerID{Name: "b", Addr: "10.0.0.2:1"}
)

// The hello nonces of low and high: the tie-break orders nodes by them, not
// by their IDs, so "high" holds the lower nonce here on purpose.
const (
	lowNonce  uint64 = 900
	highNonce uint64 = 100
)

func TestPrefer(t *testing.T) {
	with := func(l *fakeLink, nonce uint64, key string) *fakeLink {
		l.nonce, l.key = nonce, key
		return l
	}
	tests := []struct {
		name       string
		localNonce uint64
		localKey   string
		cur, cand  *fakeLink
		want       string
	}{
		// No current link: take the candidate whatever its direction.
		{"none/out", 1, "", nil, with(out("cand"), 2, ""), "cand"},
		{"none/in", 2, "", nil, with(inbound("cand"), 1, ""), "cand"},

		// Local nonce lower: keep the link local dialed (outbound here).
		{"low/cur out, cand in", 1, "", with(out("cur"), 2, ""), with(inbound("cand"), 2, ""), "cur"},
		{"low/cur in, cand out", 1, "", with(inbound("cur"), 2, ""), with(out("cand"), 2, ""), "cand"},
		// Local nonce higher: keep the link the peer dialed (inbound here).
		{"high/cur out, cand in", 2, "", with(out("cur"), 1, ""), with(inbound("cand"), 1, ""), "cand"},
		{"high/cur in, cand out", 2, "", with(inbound("cur"), 1, ""), with(out("cand"), 1, ""), "cur"},

		// Secure links: the keys decide, whatever the nonces.
		{"keys/low", 2, "k1", with(out("cur"), 1, "k2"), with(inbound("cand"), 1, "k2"), "cur"},
		{"keys/high", 1, "k2", with(out("cur"), 2, "k1"), with(inbound("cand"), 2, "k1"), "cand"},

		// Same direction: the side that dialed again gave up its old link.
		{"redial out", 1, "", with(out("cur"), 2, ""), with(out("cand"), 2, ""), "cand"},
		{"redial in", 1, "", with(inbound("cur"), 2, ""), with(inbound("cand"), 2, ""), "cand"},

		// Another nonce: the peer restarted, the new link wins in any direction.
		{"restart/in over preferred out", 1, "", with(out("cur"), 2, ""), with(inbound("cand"), 3, ""), "cand"},
		{"restart/out over preferred in", 2, "", with(inbound("cur"), 1, ""), with(out("cand"), 3, ""), "cand"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cur route.Link
			if tt.cur != nil {
				cur = tt.cur
			}
			if got := linkName(route.Prefer(tt.localKey, tt.localNonce, cur, tt.cand)); got != tt.want {
				t.Fatalf("Prefer = %s, want %s", got, tt.want)
			}
		})
	}
}

// Two nodes dial each other at once. Each sees both sockets, with mirrored
// directions, in either arrival order; both must keep the same socket, the
// one dialed by the node with the lower nonce, however the IDs sort.
func TestCrossedLinksAgree(t *testing.T) {
	type node struct {
		id    proto.PeerID
		nonce uint64
	}
	for _, pair := range [][2]node{{{low, lowNonce}, {high, highNonce}}, {{high, highNonce}, {low, lowNonce}}} {
		a, b := pair[0], pair[1]
		lowDialer := a
		if b.nonce < a.nonce {
			lowDialer = b
		}
		for _, aFirst := range []bool{true, false} {
			for _, bFirst := range []bool{true, false} {
				name := fmt.Sprintf("a=%s/aFirst=%v/bFirst=%v", a.id.Name, aFirst, bFirst)
				t.Run(name, func(t *testing.T) {
					// Socket 1 dialed by a, socket 2 dialed by b.
					aSide := [2]*fakeLink{{name: "s1", outbound: true, nonce: b.nonce}, {name: "s2", nonce: b.nonce}}
					bSide := [2]*fakeLink{{name: "s1", nonce: a.nonce}, {name: "s2", outbound: true, nonce: a.nonce}}
					keep := func(local, remote node, links [2]*fakeLink, firstIs1 bool) string {
						tb := route.New[fakeLink](local.id, local.nonce)
						e, err := tb.Add(remote.id)
						if err != nil {
							t.Fatal(err)
						}
						order := []*fakeLink{links[0], links[1]}
						if !firstIs1 {
							order[0], order[1] = order[1], order[0]
						}
						tb.Attach(e, order[0])
						kept, dropped := tb.Attach(e, order[1])
						if kept != e.Link() || dropped == nil || dropped == kept {
							t.Fatalf("Attach = %v, %v; entry has %v", kept, dropped, e.Link())
						}
						return linkName(kept)
					}
					ka := keep(a, b, aSide, aFirst)
					kb := keep(b, a, bSide, bFirst)
					want := "s1"
					if lowDialer == b {
						want = "s2"
					}
					if ka != want || kb != want {
						t.Fatalf("a keeps %s, b keeps %s; want both %s", ka, kb, want)
					}
				})
			}
		}
	}
}

func TestAttachDetach(t *testing.T) {
	tb := route.New[fakeLink](low, lowNonce) // the peer's nonce is lower: its dial wins
	e, err := tb.Add(high)
	if err != nil {
		t.Fatal(err)
	}
	check := func(step string, gotKept, gotDropped route.Link, wantKept, wantDropped, wantLink string) {
		t.Helper()
		if linkName(gotKept) != wantKept || linkName(gotDropped) != wantDropped || linkName(e.Link()) != wantLink {
			t.Fatalf("%s: kept %s dropped %s link %s; want %s %s %s", step,
				linkName(gotKept), linkName(gotDropped), linkName(e.Link()), wantKept, wantDropped, wantLink)
		}
	}
	check("new entry", nil, nil, "nil", "nil", "nil")

	in1, out1, in2 := inbound("in1"), out("out1"), inbound("in2")

	k, d := tb.Attach(e, in1)
	check("first link", k, d, "in1", "nil", "in1")
	k, d = tb.Attach(e, in1)
	check("same link again", k, d, "in1", "nil", "in1")
	k, d = tb.Attach(e, in2)
	check("inbound redial replaces", k, d, "in2", "in1", "in2")
	k, d = tb.Attach(e, out1)
	check("crossed: the peer's dial stays", k, d, "in2", "out1", "in2")
	restarted := &fakeLink{name: "out2", outbound: true, nonce: highNonce + 1}
	k, d = tb.Attach(e, restarted)
	check("restarted peer replaces", k, d, "out2", "in2", "out2")

	if tb.Detach(e, in1) || tb.Detach(e, in2) || tb.Detach(e, nil) {
		t.Fatal("Detach cleared a link that is not the entry's")
	}
	check("after wrong detaches", nil, nil, "nil", "nil", "out2")
	if !tb.Detach(e, restarted) {
		t.Fatal("Detach(current) = false")
	}
	check("after detach", nil, nil, "nil", "nil", "nil")
	if tb.Detach(e, restarted) || tb.Detach(e, nil) {
		t.Fatal("Detach on an empty entry = true")
	}
	k, d = tb.Attach(e, out1)
	check("reattach", k, d, "out1", "nil", "out1")
}

// A dropped link that closes later must not clear its replacement.
func TestDetachStaleLink(t *testing.T) {
	tb := route.New[fakeLink](high, highNonce)
	e, _ := tb.Add(low)
	old, repl := out("old"), inbound("new") // the same side dialed again
	tb.Attach(e, old)
	if kept, dropped := tb.Attach(e, repl); kept != repl || dropped != old {
		t.Fatalf("Attach = %v, %v", kept, dropped)
	}
	if tb.Detach(e, old) {
		t.Fatal("Detach(stale) = true")
	}
	if e.Link() != repl {
		t.Fatal("stale Detach cleared the live link")
	}
}
