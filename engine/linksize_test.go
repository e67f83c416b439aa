package engine

import (
	"testing"
	"unsafe"

	"github.com/antnet-p2p/antnet/internal/link"
	"github.com/antnet-p2p/antnet/proto"
)

// TestPeerConnFitsItsSizeClass: a link's peerConn is in the 224-byte size
// class, the largest part of what an idle link holds (docs/BENCHMARKS.md,
// "Where an idle link's bytes go"). It fills the class: a field added costs
// 16 bytes a link (the 240-byte class); make room first.
func TestPeerConnFitsItsSizeClass(t *testing.T) {
	if got := unsafe.Sizeof(peerConn{}); got > 224 {
		t.Fatalf("peerConn is %d bytes, budget 224 (one size class)", got)
	}
}

// TestLinkSharesItsRoutesPeerID: on a plain node, both ends of a
// persistent link name the peer as its route does, so each link points at
// its route's ID instead of holding a copy; a secure link knows the peer's
// key, which the route does not, and keeps its own.
func TestLinkSharesItsRoutesPeerID(t *testing.T) {
	for _, secure := range []bool{false, true} {
		var opts []Option
		if secure {
			opts = []Option{WithIdentity(newIdentity(t))}
		}
		a := startNode(t, "a", echo, opts...)
		var optsB []Option
		if secure {
			optsB = []Option{WithIdentity(newIdentity(t))}
		}
		b := startNode(t, "b", echo, optsB...)
		linkNodes(t, a, b)
		for _, n := range []*Node{a, b} {
			found := 0
			n.conns.Range(func(pc *peerConn) bool {
				if pc.State.Load() != link.Ready || pc.entry == nil {
					return true
				}
				found++
				shared := pc.peer == &pc.entry.ID
				if shared == secure {
					t.Errorf("secure=%v %s: link to %s shares its route's ID: %v", secure, n.ID().Name, pc.peer, shared)
				}
				if pc.peer.Addr != pc.entry.ID.Addr || pc.peer.Name != pc.entry.ID.Name {
					t.Errorf("secure=%v %s: link names %s, its route %s", secure, n.ID().Name, pc.peer, pc.entry.ID)
				}
				if secure && pc.peer.Key == "" {
					t.Errorf("%s: secure link to %s without the peer's key", n.ID().Name, pc.peer)
				}
				return true
			})
			if found != 1 {
				t.Errorf("secure=%v %s: %d ready links with a route, want 1", secure, n.ID().Name, found)
			}
		}
	}
}

// TestSetPeerSharedAllocatesNothing: a link that takes its route's ID
// points at it and allocates nothing (each handshake, and each short
// request, sets its link's peer); a different ID gets a copy of its own.
func TestSetPeerSharedAllocatesNothing(t *testing.T) {
	if raceOn {
		t.Skip("allocation counts need the plain runtime")
	}
	e := &routeEntry{ID: proto.PeerID{Name: "a", Addr: "127.0.0.1:1"}}
	pc := &peerConn{}
	if n := testing.AllocsPerRun(100, func() { pc.setPeer(e.ID, e) }); n != 0 {
		t.Errorf("setPeer with the route's ID: %.0f allocations, want 0", n)
	}
	if pc.peer != &e.ID {
		t.Error("setPeer with the route's ID did not point at it")
	}
	other := e.ID
	other.Name = "b"
	pc.setPeer(other, e)
	if pc.peer == &e.ID || *pc.peer != other {
		t.Errorf("setPeer with another ID: peer %v, shared %v", pc.peer, pc.peer == &e.ID)
	}
}
