package main

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/engine"
	"github.com/antnet-p2p/antnet/proto"
)

const shortDescription = "G callers, one connection per request: " +
	"net.Dial rows dial with Go's net package, write hello (short flag) and request in one write, " +
	"read hello-ack and response, close; the antnet node row dispatches from a client engine.Node " +
	"with engine.WithMode(engine.Short) to a server node in short mode"

// dialCaller makes one connection per call: dial, hello + request in one
// write, read hello-ack and response, close.
type dialCaller struct {
	addr string
	id   proto.PeerID
	req  []byte
	fr   *frameReader
}

func newDialCaller(addr string, i, payload int) *dialCaller {
	return &dialCaller{
		addr: addr,
		id:   proto.PeerID{Name: "short" + strconv.Itoa(i), Addr: "127.0.0.1:1"},
		fr:   newFrameReader(nil, bufSize(payload, 2)),
	}
}

func (d *dialCaller) call(msg, dst []byte) ([]byte, error) {
	if d.req == nil {
		d.req = helloFrame(codec.KindHello, proto.FlagShort, d.id, randNonce())
		d.req = codec.AppendHeader(d.req, codec.KindRequest, 0, 0, 1, len(msg))
		d.req = append(d.req, msg...)
	}
	c, err := net.DialTimeout("tcp", d.addr, 5*time.Second)
	if err != nil {
		return dst, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(d.req); err != nil {
		return dst, err
	}
	d.fr.br.Reset(c)
	d.fr.skip = 0
	f, _, err := d.fr.next(nil)
	if err == nil {
		err = checkAck(f)
	}
	if err != nil {
		return dst, err
	}
	if f, _, err = d.fr.next(nil); err != nil {
		return dst, err
	}
	if f.Kind != codec.KindResponse || f.ID != 1 {
		return dst, fmt.Errorf("got %s id %d, want response id 1", f.Kind, f.ID)
	}
	return append(dst, f.Payload...), nil
}

// shortDial: net.Dial per request against impl's server (antnet in short
// mode).
func shortDial(impl string, sp callSpec, r *Result) error {
	s, err := startServer(impl, serverOpts{short: true})
	if err != nil {
		return err
	}
	defer closeServer(s, r)
	addr := s.Addr()
	m := runCallers(func(i int) caller { return newDialCaller(addr, i, sp.payload) }, sp)
	m.fill(r)
	return m.err("calls")
}

// shortNode: node to node, both in engine.Short mode.
func shortNode(sp callSpec, r *Result) error {
	s, err := startServer(implAntnet, serverOpts{short: true})
	if err != nil {
		return err
	}
	defer closeServer(s, r)
	n, err := startClientNode("server", s.Addr(), engine.WithMode(engine.Short))
	if err != nil {
		return fmt.Errorf("client node: %w", err)
	}
	defer closeNamed("client node", n.Close, r)
	m := runCallers(shared(&nodeCaller{n: n, peer: "server@" + s.Addr()}), sp)
	m.fill(r)
	return m.err("calls")
}
