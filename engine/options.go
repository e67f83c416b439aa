package engine

import (
	"log/slog"
	"runtime"
	"time"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/secure"
)

// Mode is how a node reaches its peers.
type Mode int

const (
	// Persistent keeps one long-lived link per peer; requests, notices and
	// broadcasts share it. Inbound peers join the route table by themselves.
	Persistent Mode = iota
	// Short dials a new connection per request: hello and request go out in
	// one write, the reply comes back, the connection closes.
	Short
)

// String returns "short" or "persistent".
func (m Mode) String() string {
	if m == Short {
		return "short"
	}
	return "persistent"
}

// Option configures a Node.
type Option func(*config)

type config struct {
	mode             Mode
	timeout          time.Duration
	dialTimeout      time.Duration
	handshakeTimeout time.Duration
	maxFrame         int
	loops            int
	workers          int
	workerQueue      int
	logger           *slog.Logger
	advertise        string
	gossipTTL        uint8
	seenCapacity     int
	seenWindow       time.Duration
	keepalive        time.Duration
	deadPeer         time.Duration
	redialBase       time.Duration
	redialMax        time.Duration
	highWater        int
	dropSlow         bool
	maxConns         int
	maxHandshakes    int
	maxInFlight      int
	events           func(PeerEvent)
	identity         *secure.Identity
	admit            func(key []byte) error
}

func defaultConfig() config {
	return config{
		mode:             Persistent,
		timeout:          5 * time.Second,
		dialTimeout:      3 * time.Second,
		handshakeTimeout: 5 * time.Second,
		maxFrame:         codec.DefaultMaxFrameSize,
		loops:            runtime.GOMAXPROCS(0),
		logger:           slog.New(slog.DiscardHandler),
		gossipTTL:        16,
		seenCapacity:     1 << 17,
		seenWindow:       2 * time.Minute,
		keepalive:        15 * time.Second,
		deadPeer:         45 * time.Second,
		redialBase:       100 * time.Millisecond,
		redialMax:        30 * time.Second,
		highWater:        8 << 20,
		maxConns:         1 << 16,
		maxHandshakes:    4096,
		maxInFlight:      1 << 16,
	}
}

// WithMode sets the connection mode. Default Persistent.
func WithMode(m Mode) Option { return func(c *config) { c.mode = m } }

// WithTimeout sets how long a request waits for its answer. Default 5s.
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithDialTimeout bounds every connect to a peer: AddRoute's, short-mode
// requests', redials'. A dial past it fails with ErrDial and ErrTimeout and
// leaves no socket behind. Default 3s.
func WithDialTimeout(d time.Duration) Option { return func(c *config) { c.dialTimeout = d } }

// WithHandshakeTimeout bounds the hello exchange; a socket that has not
// finished it in time is closed. Default 5s.
func WithHandshakeTimeout(d time.Duration) Option {
	return func(c *config) { c.handshakeTimeout = d }
}

// WithMaxFrameSize sets the largest frame accepted, header included; a peer
// that announces a larger one is disconnected. Default 4 MiB.
func WithMaxFrameSize(n int) Option { return func(c *config) { c.maxFrame = n } }

// WithEventLoops sets the number of gnet event loops. Default GOMAXPROCS.
// With more than one, handlers run concurrently.
func WithEventLoops(n int) Option { return func(c *config) { c.loops = n } }

// WithWorkers runs the handler on n worker goroutines instead of the event
// loop, so it may block. Requests wait in a queue of queue entries; a request
// that finds it full is answered with proto.CodeBusy. Each message is copied
// (one allocation). Default: no workers, the handler runs on the event loop.
func WithWorkers(n, queue int) Option {
	return func(c *config) { c.workers, c.workerQueue = n, queue }
}

// WithLogger routes the node's logs, and gnet's, to l. Default: discarded.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithAdvertiseAddr sets the address peers are told to reach this node at,
// when it differs from the listen address (for example when listening on
// 0.0.0.0). Default: the listen address with the bound port.
func WithAdvertiseAddr(addr string) Option { return func(c *config) { c.advertise = addr } }

// WithGossipTTL sets the hop budget of broadcasts this node starts: a
// broadcast travels at most ttl+1 hops. Default 16.
func WithGossipTTL(ttl uint8) Option { return func(c *config) { c.gossipTTL = ttl } }

// WithSeenSet bounds the broadcast ids a node remembers: at most capacity
// ids (about 40 bytes each), each kept for at least window unless more than
// capacity/2 newer ids arrive first. A copy of a broadcast that comes back
// after that is delivered again. Default 131072 ids (about 5 MiB), 2 minutes.
func WithSeenSet(capacity int, window time.Duration) Option {
	return func(c *config) { c.seenCapacity, c.seenWindow = capacity, window }
}

// WithKeepalive pings a persistent link that has been silent for interval,
// and closes it, failing its pending requests with ErrPeerSilent, once it
// has been silent for dead. Zero interval turns keepalive off. dead is also
// every peer socket's TCP_USER_TIMEOUT: data a peer leaves unacknowledged
// for dead (a black-holed host) fails the link in the kernel, keepalive on
// or off. A dead peer is thus detected within dead plus 50 ms. Default 15s
// and 45s.
func WithKeepalive(interval, dead time.Duration) Option {
	return func(c *config) { c.keepalive, c.deadPeer = interval, dead }
}

// WithReconnect sets the backoff for redialing a route added with AddRoute
// whose link dropped: base, doubled after every failure up to max, each
// wait jittered by ±20%. Redialing goes on until the route is deleted.
// Default 100ms up to 30s.
func WithReconnect(base, max time.Duration) Option {
	return func(c *config) { c.redialBase, c.redialMax = base, max }
}

// WithHighWater caps the bytes queued for one peer (queued by this node plus
// what the socket would not take). Past it, sends fail with ErrSlowPeer and
// are counted; with dropSlow the slow peer is also disconnected. A peer
// that keeps sending requests while not reading the answers is disconnected
// either way. Default 8 MiB, not dropped.
func WithHighWater(bytes int, dropSlow bool) Option {
	return func(c *config) { c.highWater, c.dropSlow = bytes, dropSlow }
}

// WithLimits caps open connections and inbound sockets still in their
// handshake (a socket past either is answered with an error frame naming
// the limit and closed: the dialer gets ErrRefused), and requests in
// flight on one link (past it, ErrBusy). Zero leaves a cap off. Default 65536, 4096,
// 65536.
func WithLimits(conns, handshakes, inflight int) Option {
	return func(c *config) { c.maxConns, c.maxHandshakes, c.maxInFlight = conns, handshakes, inflight }
}

// WithIdentity makes every link of the node secure: a Noise XX handshake
// authenticates both ends by their static keys, then every frame's payload
// is sealed with ChaCha20-Poly1305. The node's ID carries id's public key,
// and a peer's identity is its key. Secure and plain nodes refuse each other
// (ErrRefused). Costs a handshake of three messages per connection and
// about 16 bytes plus one seal or open per frame.
func WithIdentity(id *secure.Identity) Option { return func(c *config) { c.identity = id } }

// WithAllowKeys admits only peers whose static public key is one of keys
// (secure nodes only): any other peer is disconnected right after the Noise
// handshake, counted in Stats.Unadmitted, and never reaches the route table
// or the handler. Combined with WithAdmit, a peer must pass both.
func WithAllowKeys(keys ...[]byte) Option {
	allowed := make(map[string]bool, len(keys))
	for _, k := range keys {
		allowed[string(k)] = true
	}
	return WithAdmit(func(key []byte) error {
		if !allowed[string(key)] {
			return ErrNotAdmitted
		}
		return nil
	})
}

// WithAdmit calls f with each peer's authenticated static key after the
// Noise handshake (secure nodes only); a non-nil error disconnects the peer
// as WithAllowKeys does. f runs on the event loop: it must be quick.
func WithAdmit(f func(key []byte) error) Option {
	return func(c *config) {
		if prev := c.admit; prev != nil {
			c.admit = func(k []byte) error {
				if err := prev(k); err != nil {
					return err
				}
				return f(k)
			}
			return
		}
		c.admit = f
	}
}
