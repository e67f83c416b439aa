package engine

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/valyala/bytebufferpool"
	"golang.org/x/sys/unix"

	"github.com/antnet-p2p/antnet/proto"
	"github.com/antnet-p2p/antnet/route"
)

// Node states.
const (
	nodeNew int32 = iota
	nodeRunning
	nodeClosing
	nodeClosed
)

// Node is one peer: it listens, dials, serves its handler and sends requests,
// all on one gnet reactor. Create it with New, then Start it; Close it when
// done. Its methods are safe for concurrent use; the blocking ones (Dispatch,
// AddRoute...) must not be called from a handler (see ErrOnEventLoop).
type Node struct {
	cfg     config
	handler proto.Handler
	log     *slog.Logger
	name    string
	listen  string
	nonce   uint64

	id    proto.PeerID // set by Start
	table *route.Table
	eng   gnet.Engine
	state atomic.Int32

	booted  chan error
	stopped chan struct{}
	runErr  error

	conns         sync.Map // *peerConn -> struct{}: every open socket
	staticRoutes  sync.Map // addr -> struct{}: routes added by AddRoute
	pins          sync.Map // addr -> key fingerprint pinned by AddRoute (secure nodes)
	ownGoroutines sync.Map // goroutine id of each event loop and worker -> loopGoroutine or workerGoroutine
	loopStates    sync.Map // gnet.EventLoop -> *loopState

	inCallback atomic.Int32 // handlers and event callbacks running now

	seen  *seenSet     // broadcast ids already delivered
	clock atomic.Int64 // unix nanos, advanced by every tick

	redialMu sync.Mutex
	redials  map[*route.Entry]*redial

	linkMu  sync.Mutex // route lifecycle: see links.go
	byNonce sync.Map   // peer hello nonce -> *route.Entry its link is on
	dialing sync.Map   // *route.Entry -> *peerConn: the route's one dial in flight
	// *route.Entry -> uint64: the nonce of the incarnation a restart last
	// replaced on the entry
	goneNonces sync.Map

	evMu         sync.Mutex
	evQueue      []PeerEvent // raised, not yet delivered, in order
	evDelivering bool        // a goroutine is delivering evQueue

	work chan job // WithWorkers
	wg   sync.WaitGroup

	pacer pacer // links paused at the high-water mark

	// The node's own pools: their size calibration follows this node's
	// traffic, not whatever else in the process uses bytebufferpool.
	outPool   bytebufferpool.Pool // link outboxes
	framePool bytebufferpool.Pool // gossip frames, encoded once per forward

	stats counters
}

// New configures a node named name that will listen on listen (host:port;
// port 0 picks a free one). h serves the messages it receives; nil answers
// every request with proto.CodeUnsupported. Nothing is bound until Start.
// A bad name or listen address is proto.ErrBadPeerID; an option out of its
// range is ErrBadOption, naming the option.
func New(name, listen string, h proto.Handler, opts ...Option) (*Node, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if name == "" || len(name) > proto.MaxNameLen {
		return nil, fmt.Errorf("%w: name must be 1..%d bytes", proto.ErrBadPeerID, proto.MaxNameLen)
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("%w: listen address: %v", proto.ErrBadPeerID, err)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if host == "" && cfg.advertise == "" {
		return nil, fmt.Errorf("%w: listen address %q has no host for peers to dial: add one, or WithAdvertiseAddr", proto.ErrBadPeerID, listen)
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	var nb [8]byte
	_, _ = rand.Read(nb[:])
	return &Node{
		cfg:     cfg,
		handler: h,
		log:     cfg.logger.With("node", name),
		name:    name,
		listen:  listen,
		nonce:   binary.BigEndian.Uint64(nb[:]),
		seen:    newSeenSet(cfg.seenCapacity, cfg.seenWindow),
		redials: make(map[*route.Entry]*redial),
		booted:  make(chan error, 1),
		stopped: make(chan struct{}),
	}, nil
}

// Start binds the listen address and starts the reactor. It returns once the
// node accepts connections, or with the error that prevented it.
func (n *Node) Start() error {
	if !n.state.CompareAndSwap(nodeNew, nodeRunning) {
		return fmt.Errorf("%w: Start called twice", ErrClosed)
	}
	if n.cfg.workers > 0 {
		n.startWorkers()
	}
	go func() {
		defer close(n.stopped)
		err := gnet.Run(&events{n: n}, "tcp://"+n.listen,
			gnet.WithNumEventLoop(n.cfg.loops),
			gnet.WithLoadBalancing(gnet.LeastConnections), // safe for Register from any goroutine
			gnet.WithTicker(true),
			gnet.WithReuseAddr(true),
			gnet.WithTCPNoDelay(gnet.TCPNoDelay),
			gnet.WithLogger(gnetLogger{n.log}),
		)
		n.runErr = err
		select {
		case n.booted <- err:
		default:
		}
	}()
	if err := <-n.booted; err != nil {
		n.state.Store(nodeClosed)
		n.stopWorkers()
		<-n.stopped
		if errors.Is(err, proto.ErrBadPeerID) {
			return err
		}
		return fmt.Errorf("%w: %s: %w", ErrListen, n.listen, err)
	}
	n.log.Debug("node started", "id", n.id.String())
	return nil
}

// boot runs in OnBoot: it learns the bound port and fixes the node's ID.
func (n *Node) boot(e gnet.Engine) error {
	n.eng = e
	fd, err := e.Dup()
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return err
	}
	port := 0
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		port = a.Port
	case *unix.SockaddrInet6:
		port = a.Port
	}
	host, _, _ := net.SplitHostPort(n.listen)
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	if n.cfg.advertise != "" {
		addr = n.cfg.advertise
	}
	n.clock.Store(time.Now().UnixNano())
	n.id = proto.PeerID{Name: n.name, Addr: addr}
	if n.cfg.identity != nil {
		n.id.Key = string(n.cfg.identity.Public())
	}
	if err := n.id.Validate(); err != nil {
		return err
	}
	n.table = route.New(n.id, n.nonce)
	return nil
}

// ID returns the node's identity, name@host:port, with the bound port. Valid
// after Start.
func (n *Node) ID() proto.PeerID { return n.id }

// Addr returns the address peers reach this node at. Valid after Start.
func (n *Node) Addr() string { return n.id.Addr }

// Mode returns the node's connection mode.
func (n *Node) Mode() Mode { return n.cfg.mode }

// Close shuts the node down gracefully: new calls fail with ErrClosed,
// requests in flight get up to the request timeout to finish, peers are told
// goaway, then every connection closes and every waiting caller gets its
// answer or an error. Close returns when the reactor and the workers have
// stopped. Calling it again returns nil. Called from a handler (on the loop
// or on a worker) or a peer event callback it returns ErrOnEventLoop: it
// would wait for itself.
func (n *Node) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.timeout+time.Second)
	defer cancel()
	return n.Shutdown(ctx)
}

// Shutdown is Close with a caller's deadline for the graceful part; when ctx
// ends, the remaining requests fail with ErrClosed at once.
func (n *Node) Shutdown(ctx context.Context) error {
	if n.callerKind() != 0 { // it would wait for itself
		return ErrOnEventLoop
	}
	if !n.state.CompareAndSwap(nodeRunning, nodeClosing) {
		if n.state.CompareAndSwap(nodeNew, nodeClosed) {
			return nil
		}
		<-n.stopped
		return nil
	}
	// Let requests in flight finish.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for n.inflight() > 0 {
		select {
		case <-ctx.Done():
		case <-tick.C:
			continue
		}
		break
	}
	var goawayQueued []*peerConn
	n.conns.Range(func(k, _ any) bool {
		pc := k.(*peerConn)
		if pc.state.Load() == stateReady && !pc.short && pc.goawaySent.CompareAndSwap(false, true) {
			if _, err := pc.send(codecGoaway, 0, 0, 0, nil, nil); err == nil {
				goawayQueued = append(goawayQueued, pc)
			}
		}
		pc.fail(ErrClosed)
		return true
	})
	// gnet runs a loop's shutdown task ahead of all but its first 1024
	// queued wakes: stop only once the goaways are out.
	waitWritten(ctx, goawayQueued, maxGoawayWait)
	off, turnOff := context.WithCancel(context.Background())
	turnOff()
	_ = n.eng.Stop(off) // turns the engine off; the cancelled ctx skips gnet's 500 ms polling
	<-n.stopped
	n.stopWorkers()
	n.state.Store(nodeClosed)
	n.log.Debug("node closed")
	return nil
}

func (n *Node) inflight() int { return int(n.stats.inflight.Load()) }

// maxGoawayWait bounds how long Shutdown waits for busy loops to write the
// goaways; it returns as soon as they are out, within a millisecond or so.
const maxGoawayWait = 250 * time.Millisecond

// waitWritten waits, at most d or until ctx ends, until the event loops have
// taken the queued frames of every link in pcs to their sockets.
func waitWritten(ctx context.Context, pcs []*peerConn, d time.Duration) {
	deadline := time.Now().Add(d)
	for len(pcs) > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		if pcs[0].outEmpty() {
			pcs = pcs[1:]
			continue
		}
		time.Sleep(time.Millisecond)
	}
}

func (n *Node) checkRunning() error {
	switch n.state.Load() {
	case nodeRunning:
		return nil
	case nodeNew:
		return ErrNotStarted
	}
	return ErrClosed
}
