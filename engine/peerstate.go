package engine

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/antnet-p2p/antnet/internal/link"
	"github.com/antnet-p2p/antnet/proto"
)

// LinkState is where a peer's route stands, as PeerStates sees it.
type LinkState uint8

// Link states, from PeerStates.
const (
	// Known: in the route table with no link and no dial: a short-mode
	// route, or a learned one about to go.
	Known LinkState = iota
	// Linked: a live link takes requests.
	Linked
	// Dialing: a static route with a dial or handshake in progress.
	Dialing
	// BackingOff: a static route waiting for its next redial
	// (PeerState.NextDial).
	BackingOff
	// Draining: the link takes no new requests; it closes once its own are
	// answered and goaway went both ways (Delete, goaway from the peer, a
	// duplicate link).
	Draining
)

// String returns the state's name: "linked", "dialing", "backing off",
// "draining" or "known".
func (s LinkState) String() string {
	switch s {
	case Linked:
		return "linked"
	case Dialing:
		return "dialing"
	case BackingOff:
		return "backing off"
	case Draining:
		return "draining"
	}
	return "known"
}

// PeerState is one peer as PeerStates saw it. The link figures (Outbound,
// Since, RTT and the counters) describe the current link and are zero
// without one; the counters start at zero with each new link.
type PeerState struct {
	ID    proto.PeerID // with the link's key on a secure node
	State LinkState
	// NextDial is when the next redial starts (BackingOff only).
	NextDial time.Time
	// Static reports a route added with AddRoute: redialed when lost.
	Static bool
	// Outbound reports whether this node dialed the link.
	Outbound bool
	// Since is when the link's handshake ended; time.Since(Since) is its age.
	Since time.Time
	// RTT is the round trip of the last keepalive ping answered on the
	// link, kept to the microsecond (rounded up); 0 before the first
	// answer. A link that carries traffic is not
	// pinged (see WithKeepalive), so its RTT may be old or 0.
	RTT time.Duration
	// Bytes and frames each way on the link, hello included: bytes as on
	// the wire (sealed, with headers; the Noise handshake's messages are
	// not counted); frames queued count as sent.
	BytesIn, BytesOut   uint64
	FramesIn, FramesOut uint64
	InFlight            int // requests sent on the link, not yet answered
}

// PeerStates lists every peer in the route table, and every link still
// draining whose route is gone or has no other link, sorted by address.
// Cost: O(peers + open sockets), a small slice per peer, the upkeep
// tenant's lock once and each link's send lock briefly; it never waits on
// an event loop. Safe from any goroutine, handlers included.
func (n *Node) PeerStates() []PeerState {
	if n.routes.table == nil {
		return nil
	}
	redials := n.upkeep.Redials()
	entries := n.routes.table.All()
	out := make([]PeerState, 0, len(entries))
	row := make(map[string]int, len(entries)) // address -> index in out
	for _, e := range entries {
		s := PeerState{ID: e.ID}
		s.Static = n.routes.isStatic(e.ID.Addr)
		if l := e.Link(); l != nil {
			pc := l
			pc.fill(&s)
			s.State = Linked
			if pc.State.Load() == link.Draining {
				s.State = Draining
			}
		} else if r, ok := redials[e]; (ok && r.Dialing) || n.routes.dialInFlight(e) {
			s.State = Dialing // by the redialer, or by AddRoute
		} else if ok {
			s.State, s.NextDial = BackingOff, r.Due
		}
		row[e.ID.Addr] = len(out)
		out = append(out, s)
	}
	n.conns.Range(func(pc *peerConn) bool {
		// The state first: a socket drains only once ready, and the
		// handshake sets short before it stores ready.
		if pc.State.Load() != link.Draining || pc.Short() {
			return true
		}
		s := PeerState{ID: *pc.peer}
		pc.fill(&s)
		s.State = Draining
		if i, ok := row[pc.peer.Addr]; !ok {
			row[pc.peer.Addr] = len(out)
			out = append(out, s)
		} else if out[i].State != Linked && out[i].State != Draining {
			s.ID, s.Static = out[i].ID, out[i].Static
			out[i] = s
		}
		return true
	})
	slices.SortFunc(out, func(a, b PeerState) int { return cmp.Compare(a.ID.Addr, b.ID.Addr) })
	return out
}

// dialInFlight reports whether AddRoute or the redialer is dialing e.
func (rs *routeState) dialInFlight(e *routeEntry) bool {
	pc, ok := rs.dialing.Holder(e)
	return ok && !pc.dialDone()
}

// fill copies pc's link figures into s.
func (pc *peerConn) fill(s *PeerState) {
	s.ID.Key = pc.peer.Key
	s.Outbound = pc.Outbound()
	if t := pc.readyAt.Load(); t != 0 {
		s.Since = time.Unix(0, t)
	}
	s.RTT = time.Duration(pc.rtt.Load()) * time.Microsecond
	s.BytesIn, s.FramesIn = pc.bytesIn.Load(), pc.framesIn.Load()
	s.BytesOut, s.FramesOut = pc.BytesOut(), pc.FramesOut()
	s.InFlight = pc.InFlight()
}

// linked records the end of pc's handshake. Loop.
func (pc *peerConn) linked() { pc.readyAt.Store(time.Now().UnixNano()) }

// pong takes a keepalive answer: its id is the node clock the ping went out
// at, so an answer to the last ping gives the round trip. Other ids (a
// late answer, or a peer's own pongs) are ignored. Loop.
func (pc *peerConn) pong(id uint64) {
	sent := pc.lastPing.Load()
	if sent == 0 || id != uint64(sent) {
		return
	}
	if rtt := time.Now().UnixNano() - sent; rtt > 0 {
		pc.rtt.Store(int32(min((rtt+999)/1000, math.MaxInt32)))
	}
}
