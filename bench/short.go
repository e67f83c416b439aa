package main

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/engine"
	"github.com/antnet-p2p/antnet/proto"
)

const shortDescription = "G callers, one connection per request: " +
	"client=net.Dial rows dial with Go's net package, write hello (short flag) and request in one write, " +
	"read hello-ack and response, close; pair=node→node rows compare a client engine.Node " +
	"with engine.WithMode(engine.Short) dispatching to a server node in short mode (antnet) with the original " +
	"design's short router on both sides (goroutine): net.Dial per call in the caller's goroutine, write the request, " +
	"read the response, close; the server a goroutine per accepted connection reading frames under a read deadline " +
	"until the peer closes (no hello: the original had none; TCP keepalive off on both sides, as on antnet's short sockets)"

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

// ---- the original design's short router ---------------------------------

// origTimeout is the original router's dial, read and write timeout.
const origTimeout = 5 * time.Second

// origCaller is the original design's short-connection Dispatch: a new
// connection per message, dialed in the caller's goroutine; write the
// request, read the reply, close.
type origCaller struct {
	addr string
	req  []byte
	fr   codec.StreamReader // its buffer reused across calls
}

// origDialer and origListen leave TCP keepalive off, as antnet's short
// sockets do (and as Go's net did by default until 1.12): four setsockopt
// calls per socket that a one-exchange connection does not need.
var (
	origDialer = net.Dialer{Timeout: origTimeout, KeepAlive: -1}
	origListen = net.ListenConfig{KeepAlive: -1}
)

func (o *origCaller) call(msg, dst []byte) ([]byte, error) {
	c, err := origDialer.Dial("tcp", o.addr)
	if err != nil {
		return dst, err
	}
	defer c.Close()
	o.req = codec.AppendHeader(o.req[:0], codec.KindRequest, 0, 0, 1, len(msg))
	o.req = append(o.req, msg...)
	_ = c.SetWriteDeadline(time.Now().Add(origTimeout))
	if _, err := c.Write(o.req); err != nil {
		return dst, err
	}
	_ = c.SetReadDeadline(time.Now().Add(origTimeout))
	o.fr.Reset(c)
	f, err := o.fr.Next(0)
	if err != nil {
		return dst, err
	}
	if f.Kind != codec.KindResponse || f.ID != 1 {
		return dst, fmt.Errorf("got %s id %d, want response id 1", f.Kind, f.ID)
	}
	return append(dst, f.Payload...), nil
}

// origServer is the original design's ListenAndServe, at addr: an accept loop and a
// goroutine per accepted connection, which reads frames under a read
// deadline and writes each answer under a write deadline until the peer
// closes. Requests are echoed as responses with the same id.
type origServer struct {
	*perConnListener
	bufs sync.Pool // *codec.StreamReader, one per live connection
}

func startOrigServer(addr string) (*origServer, error) {
	ln, err := origListen.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &origServer{}
	s.bufs.New = func() any { return new(codec.StreamReader) }
	s.perConnListener = startPerConn(ln, s.handle)
	return s, nil
}

func (s *origServer) handle(c net.Conn) {
	fr := s.bufs.Get().(*codec.StreamReader)
	fr.Reset(c)
	defer s.bufs.Put(fr)
	var out []byte
	for {
		_ = c.SetReadDeadline(time.Now().Add(origTimeout))
		f, err := fr.Next(0)
		if err != nil || f.Kind != codec.KindRequest {
			return // io.EOF: the caller has its answer and closed
		}
		out = codec.AppendHeader(out[:0], codec.KindResponse, 0, 0, f.ID, len(f.Payload))
		out = append(out, f.Payload...)
		_ = c.SetWriteDeadline(time.Now().Add(origTimeout))
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

// shortOrig: the original design's short router on both sides.
func shortOrig(sp callSpec, r *Result) error {
	s, err := startOrigServer("127.0.0.1:0")
	if err != nil {
		return err
	}
	defer closeServer(s, r)
	m := runCallers(func(int) caller { return &origCaller{addr: s.Addr()} }, sp)
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
