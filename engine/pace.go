package engine

import (
	"fmt"
	"math"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// Pacing. Past the high-water mark a link's loop stops decoding the peer's
// frames (serve marks it paused) until its socket has taken enough. gnet
// has no "drained" callback, so a paused link is looked at again: at once
// if the write just ended took it under the mark, else by the ticker
// (internal/pace: every minPace while the peer reads, up to tickEvery).

// minPace is the shortest wait before the ticker looks at a paused link.
const minPace = time.Millisecond

// pace runs on a link that serve left paused, or that the pacer holds,
// after OnTraffic wrote what it had. Loop.
func (pc *peerConn) pace(c gnet.Conn) gnet.Action {
	n := pc.n
	if !pc.paused {
		pc.unpace() // serving went on
		return gnet.None
	}
	hw := n.cfg.HighWater
	out := c.OutboundBuffered()
	if out+int(pc.Queued()) < hw {
		pc.unpace()
		_ = c.Wake(nil) // the socket took enough: serve on
		return gnet.None
	}
	if c.InboundBuffered() > hw+n.cfg.MaxFrame {
		// It keeps sending but does not read what we answer.
		pc.markSlow()
		err := fmt.Errorf("%w: %s sends but does not read its answers", ErrSlowPeer, pc.remote())
		n.log.Warn("closing connection", "remote", pc.remote(), "err", err)
		pc.fail(err)
		return gnet.Close
	}
	progressed := !pc.paced || out < int(pc.pacedOut)
	pc.paced, pc.pacedOut = true, int32(min(out, math.MaxInt32))
	n.pacer.Hold(pc, progressed, time.Now())
	return gnet.None
}

// unpace takes pc out of the pacer. Loop.
func (pc *peerConn) unpace() {
	n := pc.n
	if pc.paced {
		pc.paced = false
		n.pacer.Release(pc)
	}
}
