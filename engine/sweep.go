package engine

import (
	"fmt"
	"time"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/internal/link"
)

// The node's timers run from gnet's ticker (OnTick, off the event loops):
// handshake and drain deadlines, idle short links, keepalive, the tenants'
// ticks. They touch links only through thread-safe calls (atomics,
// pc.send, pc.close).

// sweep runs once per tick and reports whether anything timed is pending
// (a deadline, a dial, the upkeep tenant's work): then the next tick is
// after tickEvery, else after the quiet period. With release, ready links
// drop what an idle link does not need.
func (n *Node) sweep(now time.Time, release bool) (busy bool) {
	t := now.UnixNano()
	n.clock.Store(t)
	ka, dead := int64(n.cfg.Keepalive), int64(n.cfg.DeadPeer)
	n.conns.Sweep(func(pc *peerConn) {
		state := pc.State.Load()
		d := pc.deadline.Load()
		busy = busy || d != 0
		if d != 0 && t > d {
			pc.deadline.Store(0)
			switch state {
			case link.Handshake:
				pc.handshakeExpired()
			case link.Draining:
				pc.Close()
			case link.Ready:
				if pc.Short() {
					pc.Close() // short link idle past the request timeout
				}
			}
		}
		if ka > 0 && state == link.Ready && !pc.Short() {
			pc.keepalive(t, ka, dead)
		}
		if release && state == link.Ready {
			pc.ReleaseIdle()
		}
	})
	busy = n.tickUpkeep(now) || busy
	busy = n.pollOrphans() || busy
	n.peerLog.Summary()
	return busy
}

// releaseEvery is how often sweep lets ready links drop what an idle link
// does not need: an empty pending map, and the ciphers of a secure link's
// directions idle since the last pass (Session.ReleaseIdle: about 1.5 KB,
// rebuilt by the next frame in a few microseconds).
const releaseEvery = time.Second

// quietEvery is the sweep period of a node with nothing timed pending:
// quietTickEvery, or a quarter of the keepalive interval if that is less.
func (c *settings) quietEvery() time.Duration {
	if ka := c.Keepalive; ka > 0 && ka/4 < quietTickEvery {
		return max(ka/4, tickEvery)
	}
	return quietTickEvery
}

// keepalive pings a quiet link and closes a silent one.
func (pc *peerConn) keepalive(now, interval, dead int64) {
	n := pc.n
	quiet := now - pc.lastRecv.Load()
	switch {
	case dead > 0 && quiet > dead:
		n.stats.SilentPeers.Add(1)
		pc.setDown(ReasonSilent)
		n.log.Info("closing silent peer", "peer", pc.peer.String(), "quiet", time.Duration(quiet))
		pc.fail(fmt.Errorf("%w: %s quiet for %v", ErrPeerSilent, pc.peer, time.Duration(quiet).Round(time.Millisecond)))
		pc.Close()
	case quiet > interval && now-pc.lastPing.Load() > interval:
		pc.lastPing.Store(now)
		_, _ = pc.send(codec.KindPing, 0, 0, uint64(now), nil, nil)
	}
}
