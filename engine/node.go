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

	"github.com/antnet-p2p/antnet/internal/acceptor"
	"github.com/antnet-p2p/antnet/internal/config"
	"github.com/antnet-p2p/antnet/internal/connset"
	"github.com/antnet-p2p/antnet/internal/gnetslog"
	"github.com/antnet-p2p/antnet/internal/inorder"
	"github.com/antnet-p2p/antnet/internal/intake"
	"github.com/antnet-p2p/antnet/internal/link"
	"github.com/antnet-p2p/antnet/internal/loglimit"
	"github.com/antnet-p2p/antnet/internal/pace"
	"github.com/antnet-p2p/antnet/internal/stats"
	"github.com/antnet-p2p/antnet/internal/tcpconnect"
	"github.com/antnet-p2p/antnet/internal/workpool"
	"github.com/antnet-p2p/antnet/proto"
	"github.com/antnet-p2p/antnet/route"
	"github.com/antnet-p2p/antnet/upkeep"
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
	cfg     settings
	handler proto.Handler
	log     *slog.Logger
	peerLog loglimit.Log // the lines remote peers cause, rate-limited (internal/loglimit)
	nonce   uint64

	id proto.PeerID // set by Start

	conns  connset.Set[*peerConn] // every open socket
	own    goroutines             // the node's loops, workers and callbacks: blocking calls refused there
	stalls stallWatch             // loop callbacks past the stall threshold

	tree  treeTenant   // the broadcast tenant (gossip.go)
	clock atomic.Int64 // unix nanos, advanced by every tick

	shortSrv shortServer              // the accept goroutine's inline short requests (shortserve.go)
	life     lifecycle                // running, closing, closed (node.go)
	reactor  reactor                  // gnet's loops and ticker, the listener, the canaries (reactor.go)
	dials    intake.Intake[*peerConn] // dials and enrolls in progress (dial.go, internal/intake)

	routes     routeState               // the route table and what changes with it (routes.go)
	peerEvents inorder.Queue[PeerEvent] // WithPeerEvents: queued under linkMu, flushed after

	workers workpool.Pool[job] // WithWorkers (workers.go)

	pacer pace.Pacer[*peerConn] // links paused at the high-water mark (pace.go)

	upkeep *upkeep.Upkeep[*routeEntry] // the network upkeep tenant (upkeep.go)

	linkEnv link.Env // what the links' send paths share: limits, the outbox pool, totals (internal/link)

	framePool bytebufferpool.Pool // gossip frames, encoded once per forward: its own pool, calibrated by that traffic

	stats stats.Counters // the node's totals (internal/stats); the links' are in linkEnv
}

// New configures a node named name that will listen on listen (host:port;
// port 0 picks a free one). h serves the messages it receives; nil answers
// every request with proto.CodeUnsupported. Nothing is bound until Start.
// A bad name or listen address is proto.ErrBadPeerID; an option out of its
// range is ErrBadOption, naming the option.
func New(name, listen string, h proto.Handler, opts ...Option) (*Node, error) {
	cfg := settings{Config: config.Default()}
	for _, o := range opts {
		o(&cfg)
	}
	cfg.Name, cfg.Listen = name, listen
	if name == "" || len(name) > proto.MaxNameLen {
		return nil, fmt.Errorf("%w: name must be 1..%d bytes", proto.ErrBadPeerID, proto.MaxNameLen)
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("%w: listen address: %v", proto.ErrBadPeerID, err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if host == "" && cfg.Advertise == "" {
		return nil, fmt.Errorf("%w: listen address %q has no host for peers to dial: add one, or WithAdvertiseAddr", proto.ErrBadPeerID, listen)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	var nb [8]byte
	_, _ = rand.Read(nb[:])
	n := &Node{
		cfg:     cfg,
		handler: h,
		log:     cfg.Logger.With("node", name),
		nonce:   binary.BigEndian.Uint64(nb[:]),
		life:    lifecycle{closing: make(chan struct{}), stopped: make(chan struct{})},
		pacer:   pace.Pacer[*peerConn]{Min: minPace, Max: tickEvery},
	}
	n.linkEnv = link.Env{
		HighWater: cfg.HighWater, DropSlow: cfg.DropSlow, MaxInFlight: cfg.MaxInFlight,
		MaxFrame: cfg.MaxFrame, Overhead: cfg.SealOverhead(),
		ErrClosed: ErrClosed, ErrBusy: ErrBusy, ErrSlowPeer: ErrSlowPeer,
	}
	n.peerEvents.Deliver = n.deliverPeerEvents(cfg.events)
	n.peerLog.Log = n.log
	n.stalls.init(cfg.StallThreshold, n.log)
	if err := n.newTree(); err != nil {
		return nil, err
	}
	if err := n.newUpkeep(); err != nil {
		return nil, err
	}
	return n, nil
}

// Start binds the listen address and starts the reactor. It returns once the
// node accepts connections, or with the error that prevented it.
func (n *Node) Start() error {
	if !n.life.state.CompareAndSwap(nodeNew, nodeRunning) {
		return fmt.Errorf("%w: Start called twice", ErrClosed)
	}
	if err := n.start(); err != nil {
		n.life.state.Store(nodeClosed)
		close(n.life.closing)
		close(n.life.stopped)
		if errors.Is(err, proto.ErrBadPeerID) {
			return err
		}
		return fmt.Errorf("%w: %s: %w", ErrListen, n.cfg.Listen, err)
	}
	n.log.Debug("node started", "id", n.id.String())
	return nil
}

// start binds the listener, starts the reactor's loops and ticker, and the
// accept goroutine.
func (n *Node) start() error {
	// A short-mode node accepts once hello and request are there (TCP_DEFER_ACCEPT: shortserve.go).
	ln, err := acceptor.Listen(n.cfg.Listen, n.cfg.Mode == config.Short)
	if err != nil {
		return err
	}
	n.reactor.ln = ln
	dialer := net.Dialer{Timeout: n.cfg.DialTimeout, ControlContext: tcpconnect.First}
	if n.cfg.Mode == config.Short {
		dialer.KeepAlive = -1 // a short link lives one exchange: no keepalive's four setsockopt calls
	}
	n.openIntake(dialer)
	if err := n.boot(n.reactor.ln.Addr().(*net.TCPAddr).Port); err != nil {
		_ = n.reactor.ln.Close()
		return err
	}
	n.reactor.cli, err = gnet.NewClient(&events{n: n},
		gnet.WithNumEventLoop(n.cfg.Loops),
		gnet.WithLoadBalancing(gnet.LeastConnections),
		gnet.WithTicker(true),
		// Go sets TCP_NODELAY on every TCPConn it makes, the ones we enroll
		// included: gnet setting it again costs a syscall per socket.
		gnet.WithTCPNoDelay(gnet.TCPDelay),
		gnet.WithLogger(gnetslog.Logger{L: n.log}),
	)
	started := false
	if err == nil {
		err = n.reactor.cli.Start() // closes what it opened if it fails
		started = err == nil
	}
	if err == nil {
		err = n.addCanaries()
	}
	if err != nil {
		n.life.state.Store(nodeClosed) // a canary closing now is no reactor death
		n.dials.Close()
		_ = n.reactor.ln.Close()
		if started {
			n.stopReactor()
		}
		return err
	}
	if n.cfg.Workers > 0 {
		n.workers.Run, n.workers.Skip, n.workers.Enter = n.runJob, (*job).skip, n.own.worker
		n.workers.Start(n.cfg.Workers, n.cfg.WorkerQueue)
	}
	n.reactor.acceptDone = make(chan struct{})
	go n.acceptLoop()
	return nil
}

// boot fixes the node's ID from the bound port.
func (n *Node) boot(port int) error {
	host, _, _ := net.SplitHostPort(n.cfg.Listen)
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	if n.cfg.Advertise != "" {
		addr = n.cfg.Advertise
	}
	n.clock.Store(time.Now().UnixNano())
	n.id = proto.PeerID{Name: n.cfg.Name, Addr: addr}
	if n.cfg.Identity != nil {
		n.id.Key = string(n.cfg.Identity.Public())
	}
	if err := n.id.Validate(); err != nil {
		return err
	}
	n.routes.table = route.New[peerConn](n.id, n.nonce)
	n.upkeep.Start(n.id.Addr)
	return nil
}

// ID returns the node's identity, name@host:port, with the bound port. Valid
// after Start.
func (n *Node) ID() proto.PeerID { return n.id }

// Addr returns the address peers reach this node at. Valid after Start.
func (n *Node) Addr() string { return n.id.Addr }

// Mode returns the node's connection mode.
func (n *Node) Mode() Mode { return Mode(n.cfg.Mode) }

// Close shuts the node down at once, like net/http's Server.Close: new
// calls fail with ErrClosed, every peer is told goaway (reason "closing"),
// requests this node sent fail with ErrClosed, requests it was serving
// (deferred, or on workers) are dropped unanswered and their callers fail
// at once with ErrPeerClosed; then every connection closes. Close waits
// only for the loops to write the goaways (at most a second while they
// make progress, 100 ms once they make none) and close the sockets: a few
// milliseconds with 1,000 deferred requests on one link, 0.13-2.2 s for
// 1,100 links on one loop (-race, 2 loaded cores). A worker still in the
// handler is left to finish (its reply goes nowhere); a handler blocking
// its loop delays Close as long. Shutdown lets requests in flight finish
// first. A second call returns nil. From a handler (loop or worker) or a
// peer event callback it returns ErrOnEventLoop: it would wait for itself.
func (n *Node) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Close waits for nothing in flight, nor for the workers
	return n.shutdown(ctx)
}

// Shutdown shuts the node down gracefully, like net/http's
// Server.Shutdown: new calls fail with ErrClosed and inbound requests are
// answered proto.CodeShutdown, while the requests this node sent and
// those it is serving (on workers, or deferred with ctx.Defer) get until
// ctx ends to be answered; then it goes on as Close: peers are told
// goaway, what is left fails (ErrClosed here, ErrPeerClosed at the peers)
// and the links close. With a ctx that never ends it waits for every
// answer. Returns nil, or ErrOnEventLoop as Close does; a worker still busy
// when ctx ends is not waited for.
func (n *Node) Shutdown(ctx context.Context) error {
	return n.shutdown(ctx)
}

// shutdown is Close (ctx already done) and Shutdown.
func (n *Node) shutdown(ctx context.Context) error {
	if n.own.Caller() != 0 { // it would wait for itself
		return ErrOnEventLoop
	}
	if !n.life.state.CompareAndSwap(nodeRunning, nodeClosing) {
		if n.life.state.CompareAndSwap(nodeNew, nodeClosed) {
			close(n.life.closing) // never started: nothing to stop
			close(n.life.stopped)
			return nil
		}
		<-n.life.stopped
		return nil
	}
	close(n.life.closing)
	n.tree.timer.Stop()
	n.stopIntake(0)
	if ctx.Err() == nil {
		n.awaitInFlight(ctx)
	}
	n.workers.Drop() // what workers have not started is dropped
	var goawayQueued []*peerConn
	closing := proto.AppendGoaway(nil, proto.GoawayClosing)
	n.conns.Range(func(pc *peerConn) bool {
		// A draining link whose own requests kept its goaway back sends it now.
		if st := pc.State.Load(); (st == link.Ready || st == link.Draining) && !pc.Short() && pc.State.Mark(link.FlagGoawaySent) {
			if _, err := pc.send(codecGoaway, 0, 0, 0, closing, nil); err == nil {
				goawayQueued = append(goawayQueued, pc)
			}
		}
		pc.fail(ErrClosed)
		return true
	})
	// Stop only once the loops have taken the goaways to the sockets.
	waitWritten(goawayQueued)
	n.stopReactor()
	if n.workers.Stop(ctx, workerExitGrace) {
		n.log.Warn(busyWorkerMsg)
	}
	n.saveBook()
	n.life.state.Store(nodeClosed)
	close(n.life.stopped)
	n.log.Debug("node closed")
	return nil
}

// awaitInFlight waits until the requests this node sent and those it is
// serving are answered, or ctx ends.
func (n *Node) awaitInFlight(ctx context.Context) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for n.linkEnv.InFlight.Load() > 0 || n.stats.Serving.Load() > 0 {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// How long shutdown waits for the loops to write the goaways: up to
// goawayMaxWait while they progress, goawayIdleWait once none is taken (a
// loop held by a handler). 1,100 on one loop took 200-300 ms on two loaded
// cores, where a loop can also go unscheduled for 100 ms and more.
const (
	goawayMaxWait  = time.Second
	goawayIdleWait = 250 * time.Millisecond
)

// waitWritten waits until the loops have written every link's queue in
// pcs, within goawayMaxWait and goawayIdleWait. O(links) a millisecond.
func waitWritten(pcs []*peerConn) {
	start := time.Now()
	progress := start
	for {
		left := pcs[:0]
		for _, pc := range pcs {
			if !pc.OutEmpty() {
				left = append(left, pc)
			}
		}
		now := time.Now()
		if len(left) < len(pcs) {
			progress = now
		}
		pcs = left
		if len(pcs) == 0 || now.Sub(start) > goawayMaxWait || now.Sub(progress) > goawayIdleWait {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

func (n *Node) checkRunning() error {
	switch n.life.state.Load() {
	case nodeRunning:
		return nil
	case nodeNew:
		return ErrNotStarted
	}
	return ErrClosed
}

// lifecycle is where the node is between New and Close, and the channels
// that say so to waiting goroutines.
type lifecycle struct {
	state    atomic.Int32  // nodeNew, nodeRunning, nodeClosing, nodeClosed
	closing  chan struct{} // closed when Close starts or the reactor dies
	stopped  chan struct{} // closed once the node is closed
	stopOnce sync.Once
}
