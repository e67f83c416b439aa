package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/antnet-p2p/antnet/engine"
	"github.com/antnet-p2p/antnet/proto"
	"github.com/antnet-p2p/antnet/secure"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/gologshim"
	"github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
)

// The two stacks as this module builds them, the same way in every
// scenario: logging and metrics off on both; libp2p's resource manager
// keeps its accounting under infinite limits; secure links run
// ChaCha20-Poly1305 on both sides.

// Implementation names, as in the rows.
const (
	implAntnet       = "antnet"
	implLibp2pStream = "libp2p-stream"         // a long-lived stream per caller
	implLibp2pPerReq = "libp2p-stream-per-req" // a new stream per request
	implLibp2p       = "libp2p"
	implGossipSub    = "gossipsub"
	implFloodSub     = "floodsub"
)

// Cipher names for the secure rows.
var (
	cipherLibp2p = "ChaCha20-Poly1305 (Noise_XX_25519_ChaChaPoly_SHA256)"
	cipherAntnet = "ChaCha20-Poly1305 (" + secure.ChaChaPoly.String() + ")"
)

func init() {
	// libp2p logs through gologshim: discard everything.
	gologshim.SetDefaultHandler(slog.DiscardHandler)
}

// echoProto is the libp2p request/response protocol: frames of a 4-byte
// big-endian length and the payload, each answered with itself.
const echoProto = "/antnet-bench/echo/1.0.0"

// newHost builds a libp2p host listening on 127.0.0.1: TCP + yamux, no
// security (libp2p.NoSecurity, the insecure transport) or Noise; the
// resource manager with infinite limits (accounting kept, metrics off),
// no connection manager trimming, no relay, no ping, no metrics.
func newHost(secureLinks bool) (host.Host, error) {
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(rcmgr.InfiniteLimits), rcmgr.WithMetricsDisabled())
	if err != nil {
		return nil, err
	}
	opts := []libp2p.Option{
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionManager(&connmgr.NullConnMgr{}),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
		libp2p.Ping(false),
		libp2p.DisableIdentifyAddressDiscovery(),
	}
	if secureLinks {
		opts = append(opts, libp2p.Security(noise.ID, noise.New))
	} else {
		opts = append(opts, libp2p.NoSecurity)
	}
	return libp2p.New(opts...)
}

// addrInfo is how another host dials h.
func addrInfo(h host.Host) peer.AddrInfo { return peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()} }

// bufPool holds the echo buffers of both libp2p sides, so that the
// allocations counted are libp2p's, not this code's.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096+4); return &b }}

// serveEcho answers every frame on s with itself until s ends.
func serveEcho(s network.Stream) {
	defer s.Close()
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	for {
		_ = s.SetDeadline(time.Now().Add(30 * time.Second))
		b, err := readFrame(s, (*bp)[:0])
		if err != nil {
			if err != io.EOF {
				_ = s.Reset()
			}
			return
		}
		*bp = b
		if _, err := s.Write(b); err != nil {
			_ = s.Reset()
			return
		}
	}
}

// readFrame reads one frame (header included) into buf.
func readFrame(r io.Reader, buf []byte) ([]byte, error) {
	buf = append(buf[:0], 0, 0, 0, 0)
	if _, err := io.ReadFull(r, buf[:4]); err != nil {
		return buf, err
	}
	n := int(binary.BigEndian.Uint32(buf))
	if n > 1<<20 {
		return buf, fmt.Errorf("frame of %d bytes", n)
	}
	if cap(buf) < 4+n {
		nb := make([]byte, 4+n)
		copy(nb, buf[:4])
		buf = nb
	}
	buf = buf[:4+n]
	if _, err := io.ReadFull(r, buf[4:]); err != nil {
		return buf, err
	}
	return buf, nil
}

// appendFrame appends msg as a frame.
func appendFrame(dst, msg []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(msg)))
	return append(dst, msg...)
}

// startEchoHost starts a libp2p host serving echoProto.
func startEchoHost(secureLinks bool) (host.Host, error) {
	h, err := newHost(secureLinks)
	if err != nil {
		return nil, err
	}
	h.SetStreamHandler(echoProto, serveEcho)
	return h, nil
}

// echo is the antnet server's handler (returning msg is allowed: the
// engine copies the reply before the call returns).
var echo = proto.HandlerFunc(func(ctx proto.Context, msg []byte) ([]byte, error) { return msg, nil })

// nodeOpts are the options every antnet node of this module gets: plain,
// or secure with its own identity and ChaCha20-Poly1305 forced.
func nodeOpts(secureLinks bool, loops int) ([]engine.Option, error) {
	opts := []engine.Option{engine.WithEventLoops(loops)}
	if secureLinks {
		id, err := secure.Generate()
		if err != nil {
			return nil, err
		}
		opts = append(opts, engine.WithIdentity(id), engine.WithCiphers(secure.ChaChaPoly))
	}
	return opts, nil
}

// startNode starts an antnet node on 127.0.0.1 (no logger: the default
// discards; no metrics: nothing is published unless asked).
func startNode(name string, h proto.Handler, secureLinks bool, loops int) (*engine.Node, error) {
	opts, err := nodeOpts(secureLinks, loops)
	if err != nil {
		return nil, err
	}
	n, err := engine.New(name, "127.0.0.1:0", h, opts...)
	if err != nil {
		return nil, err
	}
	if err := n.Start(); err != nil {
		return nil, err
	}
	return n, nil
}

// serverLoops is the event loops of a node that serves many callers.
func serverLoops() int { return runtime.GOMAXPROCS(0) }

// closeAll closes every closer at once and returns the first failure.
func closeAll[T interface{ Close() error }](xs []T) error {
	var wg sync.WaitGroup
	errs := make([]error, len(xs))
	for i, x := range xs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = x.Close() }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// connectCtx bounds one connection attempt.
func connectCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 10*time.Second)
}
