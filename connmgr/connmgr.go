// Package connmgr is the policy that keeps a node's number of links
// healthy, in the shape of go-libp2p's connection manager: below the low
// water mark the node dials more peers (from its address book); above the
// high water mark it retires the least useful links until it is back at the
// high mark. Links to static peers (routes added by the node's owner) are
// never retired, and neither are links younger than the grace period. Caps
// on inbound links and on links per IP address keep one host or a crowd of
// dialers from taking every slot.
//
// It holds no state and does no I/O: the upkeep tenant describes the
// node's links and acts on the answers. Every function is O(links log
// links) at most.
package connmgr

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"time"
)

// Config is the policy's marks and caps. Zero caps are off.
type Config struct {
	Low, High  int           // keep the number of links between these
	Grace      time.Duration // a link younger than this is not retired
	MaxInbound int           // links the peer dialed, at most
	MaxPerIP   int           // links to one IP address, at most
}

// Validate reports a config that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Low < 0 || c.High < c.Low:
		return fmt.Errorf("connmgr: marks low %d, high %d: want 0 <= low <= high", c.Low, c.High)
	case c.Grace < 0 || c.MaxInbound < 0 || c.MaxPerIP < 0:
		return errors.New("connmgr: negative grace or cap")
	}
	return nil
}

// Link is what the policy knows of one live link.
type Link struct {
	Addr    string     // the peer's listen address: what Trim returns
	IP      netip.Addr // the remote IP of the socket, IPv4-mapped addresses unmapped
	Static  bool       // a route the owner added: never retired
	Inbound bool       // the peer dialed it
	Since   time.Time  // when the handshake completed
	Score   int64      // usefulness, higher is better (e.g. frames in the last minute)
}

// Errors from Admit.
var (
	// ErrTooManyInbound: the inbound cap is reached.
	ErrTooManyInbound = errors.New("connmgr: too many inbound links")
	// ErrTooManyPerIP: the per-IP cap is reached for that address.
	ErrTooManyPerIP = errors.New("connmgr: too many links from one IP address")
)

// Want returns how many new dials bring linked plus dialing up to the low
// mark (0 when at or above it).
func (c Config) Want(linked, dialing int) int {
	return max(0, c.Low-linked-dialing)
}

// Admit decides whether an inbound link from ip may join links. Static
// peers are always admitted.
func (c Config) Admit(links []Link, ip netip.Addr, static bool) error {
	if static {
		return nil
	}
	inbound, sameIP := 0, 0
	for _, l := range links {
		if l.Inbound {
			inbound++
		}
		if l.IP == ip {
			sameIP++
		}
	}
	if c.MaxInbound > 0 && inbound >= c.MaxInbound {
		return fmt.Errorf("%w: %d", ErrTooManyInbound, inbound)
	}
	if c.MaxPerIP > 0 && sameIP >= c.MaxPerIP {
		return fmt.Errorf("%w: %d from %s", ErrTooManyPerIP, sameIP, ip)
	}
	return nil
}

// Trim returns the addresses of the links to retire: nothing while there
// are at most High links; otherwise the least useful retirable ones (not
// static, older than Grace; lowest score first, then the youngest) until
// High links would remain, or none is left to retire.
func (c Config) Trim(links []Link, now time.Time) []string {
	if len(links) <= c.High {
		return nil
	}
	var cands []Link
	for _, l := range links {
		if !l.Static && now.Sub(l.Since) >= c.Grace {
			cands = append(cands, l)
		}
	}
	sort.SliceStable(cands, func(i, j int) bool {
		if cands[i].Score != cands[j].Score {
			return cands[i].Score < cands[j].Score
		}
		return cands[i].Since.After(cands[j].Since)
	})
	n := min(len(links)-c.High, len(cands))
	out := make([]string, n)
	for i := range n {
		out[i] = cands[i].Addr
	}
	return out
}
