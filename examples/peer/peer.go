package main

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/antnet-p2p/antnet/book"
	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/engine"
	"github.com/antnet-p2p/antnet/proto"
)

// peer is one antnet node with a console: it prints what arrives and runs
// the commands a person types.
type peer struct {
	node *engine.Node
	mu   sync.Mutex // serialises output
	out  io.Writer
}

func newPeer(name, listen string, mode engine.Mode, out io.Writer, extra ...engine.Option) (*peer, error) {
	p := &peer{out: out}
	opts := append([]engine.Option{engine.WithMode(mode), engine.WithPeerEvents(p.event)}, extra...)
	node, err := engine.New(name, listen, proto.HandlerFunc(p.handle), opts...)
	if err != nil {
		return nil, err
	}
	p.node = node // before Start: a peer may dial in, and raise an event, at once
	if err := node.Start(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *peer) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.out, "[%s] "+format+"\n", append([]any{p.node.ID().Name}, args...)...)
}

// handle runs on the event loop: print, answer, never block.
func (p *peer) handle(ctx proto.Context, msg []byte) ([]byte, error) {
	switch ctx.Kind() {
	case codec.KindGossip:
		p.printf("broadcast from %s: %s", ctx.Origin().Name, msg)
	case codec.KindNotice:
		p.printf("notice from %s: %s", ctx.Peer().Name, msg)
	default:
		p.printf("%s says: %s", ctx.Peer().Name, msg)
		return []byte(p.node.ID().Name + " got it"), nil
	}
	return nil, nil
}

// event prints a peer joining or leaving, with the time the node saw it
// (UTC, to the millisecond: examples/hosts times a cut link with it).
func (p *peer) event(e engine.PeerEvent) {
	at := time.Now().UTC().Format(eventTime)
	key := ""
	if fp := e.Peer.Fingerprint(); fp != "" {
		key = " key " + fp
	}
	if e.Up {
		p.printf("%s joined%s at %s", e.Peer, key, at)
	} else {
		p.printf("%s left (%s) at %s", e.Peer, e.Reason, at)
	}
}

// eventTime is the layout of the time on a joined or left line.
const eventTime = "2006-01-02T15:04:05.000Z07:00"

const help = `commands:
  send NAME TEXT    request: NAME answers
  all TEXT          request to every peer
  broadcast TEXT    relayed to the whole network, once per peer
  add NAME@HOST:PORT
  peers             linked, dialing, backing off and known peers
  stats | help | quit`

// exec runs one command line and reports whether it was quit.
func (p *peer) exec(line string) (quit bool) {
	cmd, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
	rest = strings.TrimSpace(rest)
	switch cmd {
	case "":
	case "send":
		name, text, _ := strings.Cut(rest, " ")
		reply, err := p.node.Dispatch(name, []byte(text))
		if err != nil {
			p.printf("send to %s failed: %v", name, err)
		} else {
			p.printf("%s answered: %s", name, reply)
		}
	case "all":
		res := p.node.DispatchAll([]byte(rest))
		ids := make([]string, 0, len(res))
		for id := range res {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			if r := res[id]; r.Err != nil {
				p.printf("%s failed: %v", id, r.Err)
			} else {
				p.printf("%s answered: %s", id, r.Reply)
			}
		}
	case "broadcast":
		if _, err := p.node.Broadcast([]byte(rest)); err != nil {
			p.printf("broadcast failed: %v", err)
		}
	case "add":
		// name@host:port, or name@host:port#fingerprint to pin a secure peer's key
		s, pin, err := proto.CutFingerprint(rest)
		id := proto.PeerID{}
		if err == nil {
			id, err = proto.ParsePeerID(s)
		}
		if err == nil {
			if pin != "" {
				id.Addr += "#" + pin
			}
			err = p.node.AddRoute(id.Name, id.Addr)
		}
		switch {
		case errors.Is(err, engine.ErrDial) || errors.Is(err, engine.ErrHandshake):
			p.printf("add %s: %v; it is not up yet? the route stays and is redialed until it is", rest, err)
		case err != nil:
			p.printf("add %s: %v", rest, err)
		}
	case "peers":
		p.printPeers()
	case "stats":
		s := p.node.Stats()
		// loop stalls: callbacks past the stall threshold, a handler blocking its loop (the log says which)
		p.printf("stats: peers=%d links=%d frames in/out=%d/%d requests=%d broadcasts delivered=%d duplicates dropped=%d loop stalls=%d",
			s.Peers, s.PersistentLinks, s.FramesIn, s.FramesOut, s.Requests, s.GossipDelivered, s.GossipDuplicates, s.LoopStalls)
	case "help":
		p.printf("%s", help)
	case "quit":
		return true
	default:
		p.printf("unknown command %q (try help)", cmd)
	}
	return false
}

// printPeers prints the node's PeerStates as a table, one peer a line,
// then the address book's peers with no route (known only), then a count
// of each state. The lines are printed at once, with no other output
// between them.
func (p *peer) printPeers() {
	states := p.node.PeerStates()
	routed := make(map[string]bool, len(states))
	for _, s := range states {
		routed[s.ID.Addr] = true
	}
	var known []book.Peer
	for _, b := range p.node.AddressBook() {
		if !routed[b.ID.Addr] && b.ID.Addr != p.node.ID().Addr {
			known = append(known, b)
		}
	}
	if len(states)+len(known) == 0 {
		p.printf("peers: none")
		return
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PEER\tSTATE\tDIR\tAGE\tRTT\tIN\tOUT\tIN FLIGHT")
	now := time.Now()
	count := map[string]int{}
	for _, s := range states {
		count[s.State.String()]++
		state := s.State.String()
		if s.State == engine.BackingOff {
			state += fmt.Sprintf(" (next try in %v)", s.NextDial.Sub(now).Round(100*time.Millisecond))
		}
		dir, age, rtt := "-", "-", "-"
		if !s.Since.IsZero() {
			dir, age = "in", now.Sub(s.Since).Round(time.Second).String()
			if s.Outbound {
				dir = "out"
			}
		}
		if s.RTT > 0 {
			rtt = s.RTT.Round(time.Microsecond).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d B\t%d B\t%d\n", peerName(s.ID), state, dir, age, rtt, s.BytesIn, s.BytesOut, s.InFlight)
	}
	for _, k := range known { // learned, or a peer that dialed us, with no link now
		count["known"]++
		state := "known (" + k.Source.String()
		if k.Failures > 0 {
			state += fmt.Sprintf(", %d failed dials", k.Failures)
		}
		if k.NextDial.After(now) {
			state += fmt.Sprintf(", next try in %v", k.NextDial.Sub(now).Round(100*time.Millisecond))
		}
		state += ")"
		fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\t-\t-\n", peerName(k.ID), state)
	}
	_ = tw.Flush()
	var sum []string
	for _, st := range []engine.LinkState{engine.Linked, engine.Dialing, engine.BackingOff, engine.Draining, engine.Known} {
		if c := count[st.String()]; c > 0 || st == engine.Linked {
			sum = append(sum, fmt.Sprintf("%d %s", c, st))
		}
	}
	fmt.Fprintf(&b, "peers: %s\n", strings.Join(sum, ", "))
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, line := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		fmt.Fprintf(p.out, "[%s] %s\n", p.node.ID().Name, line)
	}
}

// peerName is a peer's ID with its key's fingerprint, if it has one.
func peerName(id proto.PeerID) string {
	if fp := id.Fingerprint(); fp != "" {
		return id.String() + " (key " + fp + ")"
	}
	return id.String()
}
