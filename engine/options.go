package engine

import (
	"log/slog"
	"time"

	"github.com/antnet-p2p/antnet/internal/config"
	"github.com/antnet-p2p/antnet/secure"
)

// Option configures a Node.
type Option func(*settings)

// Mode is how a node reaches its peers.
type Mode int

const (
	// Persistent keeps one long-lived link per peer; requests, notices and
	// broadcasts share it. Inbound peers join the route table by themselves.
	Persistent Mode = iota
	// Short dials a connection per request: hello and request in one
	// write, the reply, then the acceptor closes, then the dialer. Each
	// request costs a TCP handshake and about 44 allocations at both ends;
	// a plain one uses no event loop at either end (the caller's goroutine,
	// the acceptor's accept goroutine): on loopback about 1.1x the
	// requests/s of dial-per-request against a goroutine-per-connection
	// server (docs/BENCHMARKS.md). Persistent is the fast mode.
	Short
)

// String returns "short" or "persistent".
func (m Mode) String() string { return config.Mode(m).String() }

// WithMode sets the connection mode: Persistent (default) or Short.
func WithMode(m Mode) Option { return func(c *settings) { c.Mode = config.Mode(m) } }

// WithAdvertiseAddr sets the host:port peers are told to reach this node
// at, when it differs from the listen address (listening on 0.0.0.0, say).
// Default: the listen address with the bound port.
func WithAdvertiseAddr(addr string) Option { return func(c *settings) { c.Advertise = addr } }

// Time limits.

// WithTimeout sets how long a request waits for its answer. Default 5s; it
// must be > 0.
func WithTimeout(d time.Duration) Option { return func(c *settings) { c.Timeout = d } }

// WithDialTimeout bounds every connect to a peer: AddRoute's, short-mode
// requests', redials'. A dial past it fails with ErrDial and ErrTimeout and
// leaves no socket behind. Default 3s; it must be > 0.
func WithDialTimeout(d time.Duration) Option { return func(c *settings) { c.DialTimeout = d } }

// WithHandshakeTimeout bounds the hello exchange; a socket that has not
// finished it in time is closed. Default 5s; it must be > 0.
func WithHandshakeTimeout(d time.Duration) Option {
	return func(c *settings) { c.HandshakeTimeout = d }
}

// Secure links.

// WithIdentity makes every link of the node secure: a Noise XX handshake
// authenticates both ends by their static keys, then every frame's payload
// is sealed with AES-256-GCM when both ends have AES in hardware,
// ChaCha20-Poly1305 otherwise. The node's ID carries id's public key,
// and a peer's identity is its key. Secure and plain nodes refuse each other
// (ErrRefused). Costs a handshake of three messages per connection and
// about 16 bytes plus one seal or open per frame.
func WithIdentity(id *secure.Identity) Option { return func(c *settings) { c.Identity = id } }

// WithCiphers sets the Noise suites this node's secure handshakes offer or
// accept, best first (default secure.DefaultCiphers()). The list must name
// secure.ChaChaPoly, which every node runs; WithCiphers(secure.ChaChaPoly)
// runs it whatever the hardware (to compare with another ChaCha20 stack).
// Costs only the cipher's cost. Needs WithIdentity (else ErrBadOption).
func WithCiphers(cs ...secure.Cipher) Option {
	cs = append([]secure.Cipher{}, cs...) // non-nil even when empty: config.Validate refuses an empty list
	return func(c *settings) { c.Ciphers = cs }
}

// WithAllowKeys admits only peers whose static public key is one of keys
// (secure nodes only): any other peer is disconnected right after the Noise
// handshake, counted in Stats.Unadmitted, and never reaches the route table
// or the handler. Combined with WithAdmit, a peer must pass both.
func WithAllowKeys(keys ...[]byte) Option {
	if len(keys) == 0 {
		return func(c *settings) {
			c.Invalid = append(c.Invalid, "WithAllowKeys(): no keys would admit no peer; list at least one")
		}
	}
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
// as WithAllowKeys does. f runs on the event loop: it must be quick, and
// blocking calls made inside it return ErrOnEventLoop. A panic in f refuses
// that peer; it is recovered, logged and counted in Stats.CallbackPanics.
func WithAdmit(f func(key []byte) error) Option {
	return func(c *settings) {
		if f == nil {
			c.Invalid = append(c.Invalid, "WithAdmit(nil): no callback to admit peers with")
			return
		}
		if prev := c.Admit; prev != nil {
			c.Admit = func(k []byte) error {
				if err := prev(k); err != nil {
					return err
				}
				return f(k)
			}
			return
		}
		c.Admit = f
	}
}

// Limits and back-pressure.

// WithMaxFrameSize sets the largest frame accepted, header included; a peer
// that announces a larger one is disconnected, and a local message that
// would not fit fails with codec.ErrFrameTooLarge. Default 4 MiB. New
// refuses a size below 1 KiB (a sealed hello of the longest name and
// address must fit) or above the 32-bit length field's reach.
func WithMaxFrameSize(n int) Option { return func(c *settings) { c.MaxFrame = n } }

// WithMaxConns caps the node's open sockets: an accepted socket past it is
// answered with an error frame naming the limit and closed (the dialer gets
// ErrRefused). Zero leaves it uncapped. Default 65536. Negative is refused
// by New.
func WithMaxConns(n int) Option { return func(c *settings) { c.MaxConns = n } }

// WithMaxPendingHandshakes caps the inbound sockets still in their
// handshake: an accepted socket past it is answered with an error frame
// naming the limit and closed (the dialer gets ErrRefused). Zero leaves it
// uncapped. Default 4096. Negative is refused by New.
func WithMaxPendingHandshakes(n int) Option { return func(c *settings) { c.MaxHandshakes = n } }

// WithMaxInFlight caps the requests this node has in flight on one link:
// past it, Dispatch fails with ErrBusy. Zero leaves it uncapped. Default
// 65536. Negative is refused by New.
func WithMaxInFlight(n int) Option { return func(c *settings) { c.MaxInFlight = n } }

// WithHighWater caps the bytes a node holds for one peer: queued frames,
// the batch being written and what its socket has not taken (sealed size
// on secure links). A send (Dispatch, Send, a gossip forward) that would
// pass the mark fails at once with ErrSlowPeer, counted in Stats.Dropped;
// the link stays up unless WithDropSlowPeers. The node's own answers are
// never refused: at the mark it stops reading the peer's requests until
// the socket takes enough, so it holds at most the mark plus one answer,
// and a peer that keeps sending meanwhile is disconnected (ErrSlowPeer,
// Stats.SlowPeers) once its unread input passes the mark plus the max
// frame size. Zero turns the cap off; otherwise at least the max frame
// size. Costs an atomic add per frame. Default 8 MiB.
func WithHighWater(bytes int) Option { return func(c *settings) { c.HighWater = bytes } }

// WithDropSlowPeers disconnects a peer the first time a send to it is
// refused at the high-water mark (WithHighWater): its requests in flight
// fail with ErrSlowPeer and its PeerEvent says ReasonSlowPeer. Without it a
// slow peer keeps its link and only the sends past the mark fail. Needs the
// mark on (New checks).
func WithDropSlowPeers() Option { return func(c *settings) { c.DropSlow = true } }

// Links: liveness and redial.

// WithKeepalive pings a persistent link that has been silent for interval
// (one ping frame per interval at most). Zero turns keepalive off: no pings
// and no dead-peer timeout. Default 15s. Negative is refused by New.
func WithKeepalive(interval time.Duration) Option {
	return func(c *settings) { c.Keepalive = interval }
}

// WithDeadPeerTimeout closes a persistent link that has received nothing
// for d, failing its pending requests with ErrPeerSilent; d must exceed the
// keepalive interval, so a live peer can answer a ping. d is also every
// peer socket's TCP_USER_TIMEOUT: data left unacknowledged for d (a
// black-holed host) fails the link in the kernel, keepalive on or off. A
// dead peer is detected within d plus one tick (at most 250 ms). Zero never
// closes a link for silence (and keeps the kernel's default); keepalive off
// ignores the silence rule. Default 45s. Negative is refused by New.
func WithDeadPeerTimeout(d time.Duration) Option {
	return func(c *settings) { c.DeadPeer = d }
}

// WithRedialBackoff sets the first wait before redialing a route added with
// AddRoute whose link dropped or whose first connect failed; it doubles
// after each failure up to WithRedialMaxBackoff, jittered by ±20%, until
// the route is deleted. Default 100ms; it must be > 0.
func WithRedialBackoff(d time.Duration) Option {
	return func(c *settings) { c.RedialBase = d }
}

// WithRedialMaxBackoff caps the wait between redials (see
// WithRedialBackoff). Default 30s; it must be at least the backoff's start.
func WithRedialMaxBackoff(d time.Duration) Option {
	return func(c *settings) { c.RedialMax = d }
}

// Discovery and the connection manager (the upkeep tenant).

// WithMinLinks turns on peer discovery: while the node has fewer than n
// links it asks a linked peer for addresses (peer exchange, at most one
// request every 2s) and dials peers from its address book (at most 4 dials
// in flight). It also answers peers' pex-requests (at most one per link per
// second). Peers it links with are kept in the book (up to 1024 entries,
// at most 16 learned from any one peer). Costs: one small request every 2s
// while short of links or addresses, a book of a few hundred bytes per
// entry, and an O(peers) scan per tick. 0 (the default) turns it all off:
// no book, pex-requests answered with code 3. It needs Persistent mode.
func WithMinLinks(n int) Option { return func(c *settings) { c.MinLinks = n } }

// WithMaxLinks sets the high water mark of peer discovery (WithMinLinks):
// above n links the ticker retires those that carried the fewest frames
// (youngest first), sparing static routes and links within WithLinkGrace,
// until n remain. A retired link drains and ends with a goaway telling the
// peer not to dial back soon: it waits WithRedialMaxBackoff (with
// WithMinLinks, on while it has its low mark) or dials others from its
// book. At least WithMinLinks, and needs it; 0 (the
// default) means 2 × WithMinLinks + 2. Costs an O(links log links) scan
// per tick above the mark.
func WithMaxLinks(n int) Option { return func(c *settings) { c.MaxLinks = n } }

// WithLinkGrace sets how long a new link is safe from the trim above
// WithMaxLinks, so a fresh peer has time to prove useful. Default 5s; zero
// lets the trim take any link. Negative is refused by New.
func WithLinkGrace(d time.Duration) Option { return func(c *settings) { c.LinkGrace = d } }

// WithMaxInbound caps the persistent links peers dialed: a hello beyond it
// gets an error frame naming the cap (the dialer's ErrRefused;
// Stats.Refused). Static routes and a peer that already has a link (a
// restart, a crossed dial) always get in. 0 (the default): uncapped. Costs
// an O(links) scan per inbound hello while capped.
func WithMaxInbound(n int) Option { return func(c *settings) { c.MaxInbound = n } }

// WithMaxLinksPerIP caps the persistent links to peers at one IP address
// (the socket's), refused like WithMaxInbound, so that one host cannot take
// every slot. 0 (the default) leaves it uncapped: every peer of a
// one-machine test network shares 127.0.0.1. Costs as WithMaxInbound.
func WithMaxLinksPerIP(n int) Option { return func(c *settings) { c.MaxPerIP = n } }

// WithAddressBook keeps the address book of WithMinLinks in the file at
// path, so a restarted node rejoins without its bootstrap: loaded by New (a
// malformed file is ErrBadOption wrapping book.ErrBadFile), saved every
// minute and by Close (JSON, mode 0600, O(entries)). "" (the default):
// memory only.
func WithAddressBook(path string) Option { return func(c *settings) { c.BookPath = path } }

// Broadcast (the broadcast tenant).

// WithGossipTTL sets the hop budget of broadcasts this node starts: a
// broadcast travels at most ttl+1 hops. Default 32: a broadcast tree's
// paths run longer than the shortest ones (up to about 20 hops at 1,000
// nodes of degree 6), and a budget below the tree's depth leaves the
// nodes past it waiting for a better one announced lazily.
func WithGossipTTL(ttl uint8) Option { return func(c *settings) { c.GossipTTL = ttl } }

// WithBroadcastFlooding makes the node offer no broadcast trees: it floods
// every broadcast on every link (about the mean degree in payload copies
// per delivery, against about one with trees), as nodes without trees do.
// For comparisons and mixed networks; each broadcast is still delivered
// once.
func WithBroadcastFlooding() Option { return func(c *settings) { c.FloodOnly = true } }

// WithSeenSet bounds the broadcast ids a node remembers: at most capacity
// ids (about 40 bytes each), each kept for at least window unless more than
// capacity/2 newer ids arrive first. A copy of a broadcast that comes back
// after that is delivered again. Default 131072 ids (about 5 MiB), 2
// minutes; both must be > 0.
func WithSeenSet(capacity int, window time.Duration) Option {
	return func(c *settings) { c.SeenCapacity, c.SeenWindow = capacity, window }
}

// Where handlers run.

// WithEventLoops sets the number of gnet event loops. Default GOMAXPROCS;
// it must be at least 1. With more than one, handlers run concurrently.
func WithEventLoops(n int) Option { return func(c *settings) { c.Loops = n } }

// WithWorkers runs the handler on n worker goroutines instead of the event
// loop, so it may block. Requests wait in a queue (WithWorkerQueue); a
// request that finds it full is answered with proto.CodeBusy. Each message
// is copied (one allocation). Default 0: no workers, the handler runs on the
// event loop. Negative is refused by New.
func WithWorkers(n int) Option { return func(c *settings) { c.Workers = n } }

// WithWorkerQueue sets how many messages may wait for a worker (WithWorkers)
// before requests are answered with proto.CodeBusy. Zero queues nothing: a
// message is taken only when a worker is idle. Each entry holds a copy of
// one message. Default 1024. Negative is refused by New.
func WithWorkerQueue(n int) Option { return func(c *settings) { c.WorkerQueue = n } }

// Watching the node.

// WithLogger routes the node's logs, and gnet's, to l. Default, or nil:
// discarded. Every refused inbound socket is logged at Info (limits,
// timeouts, keys) or Warn (protocol violations) with its remote address
// and the reason, within a rate limit: 10 lines, then 2 a second, and a
// Warn summary of the lines dropped (docs/ARCHITECTURE.md, Diagnostics).
func WithLogger(l *slog.Logger) Option { return func(c *settings) { c.Logger = l } }

// WithPeerEvents calls f when a peer gains its first live link (Up) and
// when it loses its last one; swapping a duplicate link raises no event. A
// restarted peer (another hello nonce) raises Down then Up back to back,
// though its route never lacks a link: its session state is gone. A Down
// event's Reason says why (see Reason: ReasonGoaway, ReasonConnLost,
// ReasonSilent, ReasonRestarted, ReasonDeleted, ReasonClosed,
// ReasonProtocol, ReasonSlowPeer, ReasonTooManyLinks). Events are delivered
// one at a time in the order of the route changes that raise them. f runs
// on an event loop, on gnet's ticker goroutine (a link the connection
// manager retires), or on the goroutine that called Delete or Close: it
// must return quickly. Blocking calls inside f (Dispatch, DispatchAll, a
// persistent AddRoute, Close) return ErrOnEventLoop; Send, Broadcast and
// Delete are fine. A panic in f is recovered, logged and counted in
// Stats.CallbackPanics.
func WithPeerEvents(f func(PeerEvent)) Option { return func(c *settings) { c.events = f } }

// WithStallThreshold sets how long an event loop callback (serving a
// link's frames and sends, or closing a link) may run before the loop
// counts as stalled: every other link of it waited as long. Each stall
// counts in Stats.LoopStalls; at most one a second is logged at Warn,
// naming the loop, the callback, the handler kinds that ran in it and how
// long it took. 0 turns the watch off. Default 100 ms. Costs two clock
// reads per callback.
func WithStallThreshold(d time.Duration) Option { return func(c *settings) { c.StallThreshold = d } }

// settings is a node's configuration: internal/config's settings and the
// peer events callback, whose type is the engine's.
type settings struct {
	config.Config
	events func(PeerEvent)
}
