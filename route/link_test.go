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
}

func (l *fakeLink) Outbound() bool  { return l.outbound }
func (l *fakeLink) InFlight() int   { return l.inFlight }
func (l *fakeLink) Key() string     { return l.key }
func (l *fakeLink) String() string  { return l.name }
func out(name string) *fakeLink     { return &fakeLink{name: name, outbound: true} }
func inbound(name string) *fakeLink { return &fakeLink{name: name} }

func linkName(l route.Link) string {
	if l == nil {
		return "nil"
	}
	return l.(*fakeLink).name
}

var (
	low  = proto.PeerID{Name: "a", Addr: "10.0.0.1:1"}
	high = proto.PeerID{Name: "b", Addr: "10.0.0.2:1"}
)

func TestPrefer(t *testing.T) {
	tests := []struct {
		name          string
		local, remote proto.PeerID
		cur, cand     *fakeLink
		want          string
	}{
		// No current link: take the candidate whatever its direction.
		{"none/out", low, high, nil, out("cand"), "cand"},
		{"none/in", high, low, nil, inbound("cand"), "cand"},

		// local < remote: keep the link local dialed (outbound here).
		{"low/cur out, cand in", low, high, out("cur"), inbound("cand"), "cur"},
		{"low/cur in, cand out", low, high, inbound("cur"), out("cand"), "cand"},
		// local > remote: keep the link remote dialed (inbound here).
		{"high/cur out, cand in", high, low, out("cur"), inbound("cand"), "cand"},
		{"high/cur in, cand out", high, low, inbound("cur"), out("cand"), "cur"},

		// Same direction: a redial never displaces the current link.
		{"low/redial out", low, high, out("cur"), out("cand"), "cur"},
		{"low/redial in", low, high, inbound("cur"), inbound("cand"), "cur"},
		{"high/redial out", high, low, out("cur"), out("cand"), "cur"},
		{"high/redial in", high, low, inbound("cur"), inbound("cand"), "cur"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cur route.Link
			if tt.cur != nil {
				cur = tt.cur
			}
			if got := linkName(route.Prefer(tt.local, tt.remote, cur, tt.cand)); got != tt.want {
				t.Fatalf("Prefer = %s, want %s", got, tt.want)
			}
		})
	}
}

// Two nodes dial each other at once. Each sees both sockets, with mirrored
// directions, in either arrival order; both must keep the same socket, the
// one dialed by the lower ID.
func TestCrossedLinksAgree(t *testing.T) {
	for _, pair := range [][2]proto.PeerID{{low, high}, {high, low}} {
		a, b := pair[0], pair[1]
		lowDialer := a
		if b.Compare(a) < 0 {
			lowDialer = b
		}
		for _, aFirst := range []bool{true, false} {
			for _, bFirst := range []bool{true, false} {
				name := fmt.Sprintf("a=%s/aFirst=%v/bFirst=%v", a.Name, aFirst, bFirst)
				t.Run(name, func(t *testing.T) {
					// Socket 1 dialed by a, socket 2 dialed by b.
					aSide := [2]*fakeLink{{name: "s1", outbound: true}, {name: "s2"}}
					bSide := [2]*fakeLink{{name: "s1"}, {name: "s2", outbound: true}}
					keep := func(local, remote proto.PeerID, links [2]*fakeLink, firstIs1 bool) string {
						tb := route.New(local)
						e, err := tb.Add(remote)
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
	tb := route.New(low)
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

	in1, out1, out2, in2 := inbound("in1"), out("out1"), out("out2"), inbound("in2")

	k, d := tb.Attach(e, in1)
	check("first link", k, d, "in1", "nil", "in1")
	k, d = tb.Attach(e, in1)
	check("same link again", k, d, "in1", "nil", "in1")
	k, d = tb.Attach(e, in2)
	check("inbound redial", k, d, "in1", "in2", "in1")
	k, d = tb.Attach(e, out1)
	check("preferred direction wins", k, d, "out1", "in1", "out1")
	k, d = tb.Attach(e, out2)
	check("outbound redial", k, d, "out1", "out2", "out1")
	k, d = tb.Attach(e, in2)
	check("other direction loses", k, d, "out1", "in2", "out1")

	if tb.Detach(e, in1) || tb.Detach(e, out2) || tb.Detach(e, nil) {
		t.Fatal("Detach cleared a link that is not the entry's")
	}
	check("after wrong detaches", nil, nil, "nil", "nil", "out1")
	if !tb.Detach(e, out1) {
		t.Fatal("Detach(current) = false")
	}
	check("after detach", nil, nil, "nil", "nil", "nil")
	if tb.Detach(e, out1) || tb.Detach(e, nil) {
		t.Fatal("Detach on an empty entry = true")
	}
	k, d = tb.Attach(e, in2)
	check("reattach", k, d, "in2", "nil", "in2")
}

// A dropped link that closes later must not clear its replacement.
func TestDetachStaleLink(t *testing.T) {
	tb := route.New(high)
	e, _ := tb.Add(low)
	old, repl := out("old"), inbound("new")
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
