package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/engine"
	"github.com/antnet-p2p/antnet/proto"
	"github.com/antnet-p2p/antnet/secure"
)

// Implementations under test.
const (
	implAntnet    = "antnet"
	implRawGnet   = "rawgnet"
	implGoroutine = "goroutine"
	// implAntnetSecure is antnet with engine.WithIdentity on every node:
	// Noise XX handshake, frames sealed with the negotiated cipher (AES-256-GCM or ChaCha20-Poly1305).
	implAntnetSecure = "antnet-secure"
	// broadcast baselines: the same nodes flooding (WithBroadcastFlooding)
	implAntnetFlood       = "antnet-flood"
	implAntnetSecureFlood = "antnet-secure-flood"
)

// server is one serving side: it answers hello with hello-ack and echoes
// every request as a response with the same id and payload.
type server interface {
	Addr() string
	Close() error
}

// serverOpts tweak a server for a scenario.
type serverOpts struct {
	short  bool // antnet: engine.WithMode(engine.Short)
	secure bool // antnet: engine.WithIdentity(secure.Generate())
	lean   bool // goroutine: the memory-careful variant (goServerLean)
}

// startServer starts impl's server on 127.0.0.1 with a port the OS picks.
// Its goroutines carry the pprof label side=server, so a CPU profile can be
// split with -tagfocus side=server.
func startServer(impl string, o serverOpts) (s server, err error) {
	pprof.Do(context.Background(), pprof.Labels("side", "server", "impl", impl), func(context.Context) {
		switch impl {
		case implRawGnet:
			s, err = startRawGnet()
		case implGoroutine:
			s, err = startGoroutine(o.lean)
		case implAntnet:
			s, err = startAntnet(o)
		case implAntnetSecure:
			o.secure = true
			s, err = startAntnet(o)
		default:
			err = fmt.Errorf("unknown impl %q", impl)
		}
	})
	return s, err
}

// echo is the antnet server's handler. Returning msg is allowed: the engine
// copies it into its output buffer before Handle's caller returns.
var echo = proto.HandlerFunc(func(ctx proto.Context, msg []byte) ([]byte, error) { return msg, nil })

func randNonce() uint64 { return rand.Uint64() | 1 }

// ---- antnet ----------------------------------------------------------------

type antnetServer struct{ n *engine.Node }

func startAntnet(o serverOpts) (*antnetServer, error) {
	opts := []engine.Option{engine.WithEventLoops(runtime.GOMAXPROCS(0))}
	if o.short {
		opts = append(opts, engine.WithMode(engine.Short))
	}
	if o.secure {
		id, err := secure.Generate()
		if err != nil {
			return nil, err
		}
		opts = append(opts, engine.WithIdentity(id))
	}
	n, err := engine.New("server", "127.0.0.1:0", echo, opts...)
	if err != nil {
		return nil, err
	}
	if err := n.Start(); err != nil {
		return nil, err
	}
	return &antnetServer{n: n}, nil
}

func (s *antnetServer) Addr() string { return s.n.Addr() }
func (s *antnetServer) Close() error { return s.n.Close() }

func (s *antnetServer) openConns() int { return int(s.n.Stats().PersistentLinks) }

// ---- rawgnet ---------------------------------------------------------------

// rawServer is a bare gnet v2 echo of the same frames: every whole frame in
// OnTraffic decoded with codec.Next, all answers appended to one buffer, one
// Write per OnTraffic. The buffer belongs to the event loop (OnTraffic never
// runs twice at once on a loop, and gnet copies what the socket does not
// take), so the steady state allocates nothing. The ceiling for per-message
// overhead.
type rawServer struct {
	gnet.BuiltinEventEngine
	eng    gnet.Engine
	addr   string
	ack    []byte
	bufs   sync.Map // gnet.EventLoop -> *[]byte
	conns  atomic.Int64
	booted chan error
	done   chan error
}

// loopBuf returns the output buffer of c's event loop.
func (s *rawServer) loopBuf(c gnet.Conn) *[]byte {
	l := c.EventLoop()
	if v, ok := s.bufs.Load(l); ok {
		return v.(*[]byte)
	}
	b := make([]byte, 0, 64<<10)
	s.bufs.Store(l, &b)
	return &b
}

// Connection states kept in gnet's per-conn context (sentinels: no alloc).
var (
	rawHelloed = new(int)
	rawShort   = new(int)
)

func startRawGnet() (*rawServer, error) {
	s := &rawServer{booted: make(chan error, 1), done: make(chan error, 1)}
	go func() {
		err := gnet.Run(s, "tcp://127.0.0.1:0",
			gnet.WithNumEventLoop(runtime.GOMAXPROCS(0)),
			gnet.WithReuseAddr(true),
			gnet.WithTCPNoDelay(gnet.TCPNoDelay),
			gnet.WithLogger(nopLogger{}),
		)
		select {
		case s.booted <- err:
		default:
		}
		s.done <- err
	}()
	if err := <-s.booted; err != nil {
		return nil, err
	}
	return s, nil
}

func (s *rawServer) OnBoot(e gnet.Engine) gnet.Action {
	s.eng = e
	port, err := boundPort(e)
	if err != nil {
		s.booted <- err
		return gnet.Shutdown
	}
	s.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	s.ack = helloFrame(codec.KindHelloAck, 0, proto.PeerID{Name: "rawgnet", Addr: s.addr}, randNonce())
	s.booted <- nil
	return gnet.None
}

func (s *rawServer) OnTraffic(c gnet.Conn) gnet.Action {
	buf := s.loopBuf(c)
	w := (*buf)[:0]
	action := gnet.None
	for {
		f, n, ok, err := codec.Next(c, codec.DefaultMaxFrameSize)
		if err != nil {
			action = gnet.Close
			break
		}
		if !ok {
			break
		}
		switch f.Kind {
		case codec.KindHello:
			switch {
			case c.Context() != nil:
				action = gnet.Close // a second hello
			case f.Flags&proto.FlagShort != 0:
				c.SetContext(rawShort)
			default:
				c.SetContext(rawHelloed)
			}
			w = append(w, s.ack...)
		case codec.KindRequest:
			if c.Context() == nil {
				action = gnet.Close
				break
			}
			w = codec.AppendHeader(w, codec.KindResponse, 0, 0, f.ID, len(f.Payload))
			w = append(w, f.Payload...)
			if c.Context() == rawShort {
				action = gnet.Close // one exchange; gnet flushes before closing
			}
		case codec.KindPing:
			w = codec.AppendHeader(w, codec.KindPong, 0, 0, f.ID, 0)
		}
		_, _ = c.Discard(n)
		if action != gnet.None {
			break
		}
	}
	if len(w) > 0 {
		_, _ = c.Write(w)
	}
	if cap(w) <= 4<<20 { // keep the grown buffer, unless a burst made it huge
		*buf = w[:0]
	}
	return action
}

func (s *rawServer) Addr() string { return s.addr }

// openConns counts in OnOpen/OnClose: Engine.CountConnections reads the
// engine's loop list without synchronising with Run's registering it after
// OnBoot (a data race under -race).
func (s *rawServer) openConns() int { return int(s.conns.Load()) }

func (s *rawServer) OnOpen(gnet.Conn) ([]byte, gnet.Action) {
	s.conns.Add(1)
	return nil, gnet.None
}

func (s *rawServer) OnClose(gnet.Conn, error) gnet.Action {
	s.conns.Add(-1)
	return gnet.None
}

func (s *rawServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.eng.Stop(ctx); err != nil {
		return fmt.Errorf("rawgnet stop: %w", err)
	}
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return errors.New("rawgnet: Run did not return")
	}
}

// boundPort learns the port the OS gave the engine's listener.
func boundPort(e gnet.Engine) (int, error) {
	fd, err := e.Dup()
	if err != nil {
		return 0, err
	}
	defer syscall.Close(fd)
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		return 0, err
	}
	if a, ok := sa.(*syscall.SockaddrInet4); ok {
		return a.Port, nil
	}
	return 0, fmt.Errorf("unexpected listener address %T", sa)
}

type nopLogger struct{}

func (nopLogger) Debugf(string, ...any) {}
func (nopLogger) Infof(string, ...any)  {}
func (nopLogger) Warnf(string, ...any)  {}
func (nopLogger) Errorf(string, ...any) {}
func (nopLogger) Fatalf(string, ...any) {}

// ---- goroutine -------------------------------------------------------------

// goServer is the design the original project used: Go's net package, one
// reader goroutine per connection with bufio.Reader/bufio.Writer, flushing
// when the reader has no more buffered bytes.
type goServer struct {
	*perConnListener
	ack  []byte
	lean bool
}

// goServerBuf is the goroutine server's bufio size (reader and writer each),
// sized for throughput.
const goServerBuf = 16 << 10

// goServerLean is the bufio size of the lean variant the idle rows run, as a
// server careful with memory per connection would: net/http's sizes, a
// 4 KiB bufio.Reader per connection and a 4 KiB bufio.Writer taken from a
// sync.Pool only while a connection has output to flush, so an idle
// connection holds its goroutine's stack and the reader.
const goServerLean = 4 << 10

var leanWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, goServerLean) }}

func startGoroutine(lean bool) (*goServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &goServer{lean: lean}
	s.ack = helloFrame(codec.KindHelloAck, 0, proto.PeerID{Name: "goroutine", Addr: ln.Addr().String()}, randNonce())
	s.perConnListener = startPerConn(ln, s.serve)
	return s, nil
}

func (s *goServer) serve(c net.Conn) {
	size := goServerBuf
	if s.lean {
		size = goServerLean
	}
	fr := newFrameReader(c, size)
	var bw *bufio.Writer
	if !s.lean {
		bw = bufio.NewWriterSize(c, size)
	}
	out := func() *bufio.Writer {
		if bw == nil {
			bw = leanWriters.Get().(*bufio.Writer)
			bw.Reset(c)
		}
		return bw
	}
	defer func() {
		if s.lean && bw != nil {
			bw.Reset(nil)
			leanWriters.Put(bw)
		}
	}()
	helloed, short := false, false
	var hdr [codec.HeaderSize]byte
	for {
		if s.lean && bw != nil && fr.br.Buffered() == fr.skip {
			// About to block on a read: flush, and hand the writer back.
			if bw.Flush() != nil {
				return
			}
			bw.Reset(nil)
			leanWriters.Put(bw)
			bw = nil
		}
		f, _, err := fr.next(bw)
		if err != nil {
			return
		}
		switch f.Kind {
		case codec.KindHello:
			if helloed {
				return
			}
			helloed, short = true, f.Flags&proto.FlagShort != 0
			_, _ = out().Write(s.ack)
		case codec.KindRequest:
			if !helloed {
				return
			}
			codec.PutHeader(hdr[:], codec.KindResponse, 0, 0, f.ID, len(f.Payload))
			w := out()
			_, _ = w.Write(hdr[:])
			_, _ = w.Write(f.Payload)
			if short {
				_ = w.Flush()
				return
			}
		case codec.KindPing:
			codec.PutHeader(hdr[:], codec.KindPong, 0, 0, f.ID, 0)
			_, _ = out().Write(hdr[:])
		}
	}
}
