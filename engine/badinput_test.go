package engine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/proto"
)

// rawPeer is a hand-driven TCP peer for feeding a node bad input.
type rawPeer struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawPeer {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &rawPeer{t: t, c: c, r: bufio.NewReader(c)}
}

func (p *rawPeer) write(b []byte) {
	p.t.Helper()
	if _, err := p.c.Write(b); err != nil {
		p.t.Fatal(err)
	}
}

func (p *rawPeer) hello(name, addr string) {
	p.t.Helper()
	p.helloFlags(name, addr, 0)
}

// read returns the next frame, failing the test on EOF or after 2s.
func (p *rawPeer) read() codec.Frame {
	p.t.Helper()
	f, err := p.next()
	if err != nil {
		p.t.Fatalf("read: %v", err)
	}
	return f
}

func (p *rawPeer) next() (codec.Frame, error) {
	_ = p.c.SetReadDeadline(time.Now().Add(2 * time.Second))
	var hdr [codec.HeaderSize]byte
	if _, err := io.ReadFull(p.r, hdr[:]); err != nil {
		return codec.Frame{}, err
	}
	size, err := codec.FrameLen(hdr[:], 0)
	if err != nil {
		return codec.Frame{}, err
	}
	buf := make([]byte, size)
	copy(buf, hdr[:])
	if _, err := io.ReadFull(p.r, buf[codec.HeaderSize:]); err != nil {
		return codec.Frame{}, err
	}
	f, _, err := codec.Decode(buf, 0)
	return f, err
}

// closedBy asserts that the node closes the socket within d.
func (p *rawPeer) closedBy(d time.Duration) {
	p.t.Helper()
	_ = p.c.SetReadDeadline(time.Now().Add(d))
	for {
		if _, err := p.r.ReadByte(); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				p.t.Fatalf("node did not close the socket within %v", d)
			}
			return
		}
	}
}

// busyPeer keeps a healthy peer sending requests to srv until stop is
// called, which reports any error it saw.
func busyPeer(t *testing.T, srv *Node) (stop func()) {
	t.Helper()
	a := startNode(t, "healthy", nil)
	linkNodes(t, a, srv)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var n int
	var firstErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			if got, err := a.Dispatch(srv.ID().String(), []byte("ping")); err != nil || string(got) != "echo:ping" {
				firstErr = fmt.Errorf("reply of %d bytes, err %v", len(got), err)
				return
			}
			n++
		}
	}()
	return func() {
		cancel()
		wg.Wait()
		if firstErr != nil {
			t.Fatalf("healthy peer saw an error: %v", firstErr)
		}
		if n == 0 {
			t.Fatal("healthy peer made no requests")
		}
	}
}

func TestBadInputIsContained(t *testing.T) {
	srv := startNode(t, "srv", echo, WithHandshakeTimeout(300*time.Millisecond), WithMaxFrameSize(64<<10))
	stop := busyPeer(t, srv)

	t.Run("silent socket", func(t *testing.T) {
		before := srv.Stats().HandshakeTimeouts
		p := dialRaw(t, srv.Addr())
		p.closedBy(2 * time.Second)
		if srv.Stats().HandshakeTimeouts != before+1 {
			t.Fatal("handshake timeout not counted")
		}
	})
	t.Run("garbage", func(t *testing.T) {
		p := dialRaw(t, srv.Addr())
		p.write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		p.closedBy(time.Second)
	})
	t.Run("oversized frame", func(t *testing.T) {
		p := dialRaw(t, srv.Addr())
		p.write([]byte{0x7f, 0xff, 0xff, 0xff}) // 2 GiB announced: refused before any body
		p.closedBy(time.Second)
	})
	t.Run("request before hello", func(t *testing.T) {
		p := dialRaw(t, srv.Addr())
		p.write(codec.Append(nil, codec.Frame{Kind: codec.KindRequest, ID: 1, Payload: []byte("x")}))
		p.closedBy(time.Second)
	})
	t.Run("hello with bad address", func(t *testing.T) {
		p := dialRaw(t, srv.Addr())
		bad := proto.AppendHello(nil, proto.Hello{ID: proto.PeerID{Name: "x", Addr: "no-port"}, Nonce: 1})
		p.write(codec.Append(nil, codec.Frame{Kind: codec.KindHello, Payload: bad}))
		p.closedBy(time.Second)
	})
	t.Run("unknown kind and unknown reply id", func(t *testing.T) {
		p := dialRaw(t, srv.Addr())
		p.hello("raw", "127.0.0.1:1")
		before := srv.Stats()
		p.write(codec.Append(nil, codec.Frame{Kind: codec.Kind(17), ID: 9}))
		f := p.read()
		// PROTOCOL.md: code 3, "unknown frame kind N", N in decimal.
		if want := "\x03unknown frame kind 17"; f.Kind != codec.KindError || f.ID != 9 || string(f.Payload) != want {
			t.Fatalf("unknown kind answered with %s id=%d %q, want error-response id=9 %q", f.Kind, f.ID, f.Payload, want)
		}
		mustBeInProtocolDoc(t, f)
		p.write(codec.Append(nil, codec.Frame{Kind: codec.KindResponse, ID: 12345}))
		// The link survives both: a request still gets its answer.
		p.write(codec.Append(nil, codec.Frame{Kind: codec.KindRequest, ID: 3, Payload: []byte("ok")}))
		if f := p.read(); f.Kind != codec.KindResponse || f.ID != 3 || string(f.Payload) != "echo:ok" {
			t.Fatalf("after bad frames: %s id=%d %q", f.Kind, f.ID, f.Payload)
		}
		after := srv.Stats()
		if after.UnknownKinds != before.UnknownKinds+1 || after.UnknownReplies != before.UnknownReplies+1 {
			t.Fatalf("counters before %+v after %+v", before, after)
		}
	})
	t.Run("second hello", func(t *testing.T) {
		p := dialRaw(t, srv.Addr())
		p.hello("raw2", "127.0.0.1:2")
		payload := proto.AppendHello(nil, proto.Hello{ID: proto.PeerID{Name: "raw2", Addr: "127.0.0.1:2"}, Nonce: 7})
		p.write(codec.Append(nil, codec.Frame{Kind: codec.KindHello, Payload: payload}))
		p.closedBy(time.Second)
	})
	stop()
	if srv.Stats().ProtocolErrors < 5 {
		t.Fatalf("protocol errors not counted: %+v", srv.Stats())
	}
}

// An embedder's stdout and stderr get nothing from antnet or gnet unless it
// passes a logger. The scenario runs in a child process so its raw output
// can be read.
func TestQuietByDefault(t *testing.T) {
	if os.Getenv("ANTNET_QUIET_CHILD") == "1" {
		a, _ := New("a", "127.0.0.1:0", echo)
		b, _ := New("b", "127.0.0.1:0", echo)
		_ = a.Start()
		_ = b.Start()
		_ = a.AddRoute("b", b.Addr())
		_, _ = a.Dispatch("b", nil)
		_, _ = a.Dispatch("nobody", nil)
		raw, _ := net.Dial("tcp", b.Addr())
		_, _ = raw.Write([]byte("garbage!garbage!"))
		// b has read the garbage once it closes the socket.
		_ = raw.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.Copy(io.Discard, raw); err != nil {
			t.Fatalf("b did not close the socket after garbage: %v", err)
		}
		_ = raw.Close()
		_ = a.Close()
		_ = b.Close()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestQuietByDefault$")
	cmd.Env = append(os.Environ(), "ANTNET_QUIET_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if string(out) != "PASS\n" {
		t.Fatalf("antnet wrote to stdout/stderr without a logger:\n%s", out)
	}
}

func rawListener(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}

// closeEveryConn accepts on ln and closes each connection at once, until ln
// closes. It runs in its own goroutine.
func closeEveryConn(ln net.Listener) {
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
}

func newReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }

// fakeAcceptor listens on loopback and plays a misbehaving acceptor to the
// first dialer: it reads the dialer's hello frame and writes what answer
// returns for its payload (nil if the hello did not arrive whole), then
// discards whatever else comes. It returns the address to dial.
func fakeAcceptor(t *testing.T, answer func(hello []byte) []byte) string {
	t.Helper()
	ln := rawListener(t)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		var hello []byte
		hdr := make([]byte, codec.HeaderSize)
		if _, err := io.ReadFull(c, hdr); err == nil {
			if size, err := codec.FrameLen(hdr, 0); err == nil {
				hello = make([]byte, size-codec.HeaderSize)
				if _, err := io.ReadFull(c, hello); err != nil {
					hello = nil
				}
			}
		}
		_, _ = c.Write(answer(hello))
		_, _ = io.Copy(io.Discard, c)
	}()
	return ln.Addr().String()
}

func TestRefusalsSayWhy(t *testing.T) {
	a := startNode(t, "a", echo, WithMaxFrameSize(64<<10))
	b := startNode(t, "b", echo)
	linkNodes(t, a, b)

	// A frame the peer would refuse is not sent; the link survives.
	_, err := a.Dispatch("b", make([]byte, 64<<10))
	mustErrIs(t, err, codec.ErrFrameTooLarge)
	if got, err := a.Dispatch("b", []byte("ok")); err != nil || string(got) != "echo:ok" {
		t.Fatalf("after an oversized send: %q %v", got, err)
	}

	// Dialing itself under another spelling of its address.
	_, port, _ := net.SplitHostPort(a.Addr())
	mustErrIs(t, a.AddRoute("a", "localhost:"+port), ErrSelf)

	// An address already held by another name at the acceptor.
	impostor := startNode(t, "impostor", nil)
	p := dialRaw(t, b.Addr())
	p.hello("a", impostor.Addr()) // b now routes impostor's address as "a"
	err = impostor.AddRoute("b", b.Addr())
	mustErrIs(t, err, ErrRefused)
	if !strings.Contains(err.Error(), "already routed") {
		t.Fatalf("refusal does not say why: %v", err)
	}
}
