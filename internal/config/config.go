// Package config holds a node's settings: what its options set, their
// defaults, and the rules New checks them by (Validate). The options
// themselves, the With functions, are the engine's API.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"time"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/proto"
	"github.com/antnet-p2p/antnet/secure"
)

// ErrBadOption is what Validate's errors wrap (engine.ErrBadOption).
var ErrBadOption = errors.New("antnet: bad option")

// DefaultStallThreshold: a callback this long already delays every other
// peer of its loop past a LAN round trip hundreds of times over.
const DefaultStallThreshold = 100 * time.Millisecond

// MinFrameSize is the smallest max frame size New accepts: a hello with a
// 255-byte name and a 255-byte address, sealed, is 552 bytes.
const MinFrameSize = 1024

// Mode is how a node reaches its peers (engine.Mode).
type Mode int

const (
	Persistent Mode = iota // one long-lived link per peer
	Short                  // a connection per request
)

// String returns "short" or "persistent".
func (m Mode) String() string {
	if m == Short {
		return "short"
	}
	return "persistent"
}

// Config is a node's settings, as its options write them: each field is
// what the With function of its name sets (WithTimeout: Timeout; Invalid:
// the options refused as given). The zero Config is not usable: start
// from Default.
type Config struct {
	Name, Listen     string // New's arguments
	Mode             Mode
	Timeout          time.Duration
	DialTimeout      time.Duration
	HandshakeTimeout time.Duration
	MaxFrame         int
	Loops            int
	Workers          int
	WorkerQueue      int
	Logger           *slog.Logger
	Advertise        string
	GossipTTL        uint8
	FloodOnly        bool // WithBroadcastFlooding
	SeenCapacity     int
	SeenWindow       time.Duration
	Keepalive        time.Duration
	DeadPeer         time.Duration
	RedialBase       time.Duration
	RedialMax        time.Duration
	HighWater        int
	DropSlow         bool
	MaxConns         int
	MaxHandshakes    int
	MaxInFlight      int
	Identity         *secure.Identity
	Ciphers          []secure.Cipher // nil: secure.DefaultCiphers()
	Admit            func(key []byte) error
	MinLinks         int
	MaxLinks         int // 0: 2 × MinLinks + 2
	LinkGrace        time.Duration
	MaxInbound       int
	MaxPerIP         int
	BookPath         string
	StallThreshold   time.Duration // 0: stalls not watched
	Invalid          []string      // options refused as given, each naming itself: New fails on the first
}

// Default returns the settings of a node given no option.
func Default() Config {
	return Config{
		Mode:             Persistent,
		Timeout:          5 * time.Second,
		DialTimeout:      3 * time.Second,
		HandshakeTimeout: 5 * time.Second,
		MaxFrame:         codec.DefaultMaxFrameSize,
		Loops:            runtime.GOMAXPROCS(0),
		Logger:           slog.New(slog.DiscardHandler),
		GossipTTL:        32,
		SeenCapacity:     1 << 17,
		SeenWindow:       2 * time.Minute,
		Keepalive:        15 * time.Second,
		DeadPeer:         45 * time.Second,
		RedialBase:       100 * time.Millisecond,
		RedialMax:        30 * time.Second,
		HighWater:        8 << 20,
		MaxConns:         1 << 16,
		MaxHandshakes:    4096,
		MaxInFlight:      1 << 16,
		WorkerQueue:      1024,
		LinkGrace:        5 * time.Second,
		StallThreshold:   DefaultStallThreshold,
	}
}

// Validate checks the settings together; an error names the option and
// wraps ErrBadOption. O(1) but for WithCiphers, which builds a handshake.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrBadOption}, args...)...)
	}
	if len(c.Invalid) > 0 {
		return bad("%s", c.Invalid[0])
	}
	switch {
	case c.Mode != Persistent && c.Mode != Short:
		return bad("WithMode(%d): not Persistent or Short", int(c.Mode))
	case c.Timeout <= 0:
		return bad("WithTimeout(%v): must be > 0", c.Timeout)
	case c.DialTimeout <= 0:
		return bad("WithDialTimeout(%v): must be > 0", c.DialTimeout)
	case c.HandshakeTimeout <= 0:
		return bad("WithHandshakeTimeout(%v): must be > 0", c.HandshakeTimeout)
	case c.MaxFrame < MinFrameSize || int64(c.MaxFrame) > math.MaxUint32:
		return bad("WithMaxFrameSize(%d): must be %d..%d bytes", c.MaxFrame, MinFrameSize, uint64(math.MaxUint32))
	case c.Loops < 1:
		return bad("WithEventLoops(%d): must be >= 1", c.Loops)
	case c.Workers < 0:
		return bad("WithWorkers(%d): must be >= 0", c.Workers)
	case c.WorkerQueue < 0:
		return bad("WithWorkerQueue(%d): must be >= 0", c.WorkerQueue)
	case c.SeenCapacity <= 0:
		return bad("WithSeenSet capacity %d: must be > 0", c.SeenCapacity)
	case c.SeenWindow <= 0:
		return bad("WithSeenSet window %v: must be > 0", c.SeenWindow)
	case c.Keepalive < 0:
		return bad("WithKeepalive(%v): must be >= 0", c.Keepalive)
	case c.DeadPeer < 0:
		return bad("WithDeadPeerTimeout(%v): must be >= 0", c.DeadPeer)
	case c.Keepalive > 0 && c.DeadPeer > 0 && c.DeadPeer <= c.Keepalive:
		return bad("WithDeadPeerTimeout(%v): must exceed the keepalive interval %v", c.DeadPeer, c.Keepalive)
	case c.RedialBase <= 0:
		return bad("WithRedialBackoff(%v): must be > 0", c.RedialBase)
	case c.RedialMax < c.RedialBase:
		return bad("WithRedialMaxBackoff(%v): below WithRedialBackoff(%v)", c.RedialMax, c.RedialBase)
	case c.HighWater < 0:
		return bad("WithHighWater(%d): must be >= 0", c.HighWater)
	case c.DropSlow && c.HighWater == 0:
		return bad("WithDropSlowPeers: needs the high-water mark on (WithHighWater > 0)")
	case c.HighWater > 0 && c.HighWater < c.MaxFrame:
		return bad("WithHighWater(%d): below the max frame size %d, a full frame could never be sent", c.HighWater, c.MaxFrame)
	case c.MaxConns < 0:
		return bad("WithMaxConns(%d): must be >= 0", c.MaxConns)
	case c.MaxHandshakes < 0:
		return bad("WithMaxPendingHandshakes(%d): must be >= 0", c.MaxHandshakes)
	case c.MaxInFlight < 0:
		return bad("WithMaxInFlight(%d): must be >= 0", c.MaxInFlight)
	case c.Admit != nil && c.Identity == nil:
		return bad("WithAllowKeys/WithAdmit: plain links carry no key to check; add WithIdentity")
	case c.MinLinks < 0:
		return bad("WithMinLinks(%d): must be >= 0", c.MinLinks)
	case c.MinLinks > 0 && c.Mode != Persistent:
		return bad("WithMinLinks(%d): peer discovery needs Persistent mode", c.MinLinks)
	case c.MaxLinks < 0 || c.MaxLinks > 0 && c.MaxLinks < c.MinLinks:
		return bad("WithMaxLinks(%d): must be >= WithMinLinks(%d)", c.MaxLinks, c.MinLinks)
	case c.MaxLinks > 0 && c.MinLinks == 0:
		return bad("WithMaxLinks(%d): the high mark needs WithMinLinks > 0", c.MaxLinks)
	case c.MaxInbound < 0:
		return bad("WithMaxInbound(%d): must be >= 0", c.MaxInbound)
	case c.MaxPerIP < 0:
		return bad("WithMaxLinksPerIP(%d): must be >= 0", c.MaxPerIP)
	case (c.MaxInbound > 0 || c.MaxPerIP > 0) && c.Mode != Persistent:
		return bad("WithMaxInbound/WithMaxLinksPerIP: links are capped in Persistent mode only")
	case c.LinkGrace < 0:
		return bad("WithLinkGrace(%v): must be >= 0", c.LinkGrace)
	case c.StallThreshold < 0:
		return bad("WithStallThreshold(%v): must be >= 0", c.StallThreshold)
	case c.BookPath != "" && c.MinLinks == 0:
		return bad("WithAddressBook(%q): the book is kept only with WithMinLinks > 0", c.BookPath)
	}
	if c.Ciphers != nil {
		if c.Identity == nil {
			return bad("WithCiphers(%v): plain links run no cipher; add WithIdentity", c.Ciphers)
		}
		if _, err := secure.NewHandshakeCiphers(c.Identity, false, c.Ciphers); err != nil {
			return bad("WithCiphers(%v): %v", c.Ciphers, err)
		}
	}
	if c.Advertise != "" {
		if err := proto.ValidateAddr(c.Advertise); err != nil {
			return bad("WithAdvertiseAddr(%q): %v", c.Advertise, err)
		}
	}
	return nil
}

// Suites returns the Noise suites this node's handshakes offer, best first.
func (c *Config) Suites() []secure.Cipher {
	if c.Ciphers != nil {
		return c.Ciphers
	}
	return secure.DefaultCiphers()
}

// SealOverhead is what sealing adds to every frame on this node's links.
func (c *Config) SealOverhead() int {
	if c.Identity != nil {
		return secure.Overhead
	}
	return 0
}

// SpeaksTrees reports whether the node offers broadcast trees on its
// persistent links (proto.FlagTrees). Short mode floods.
func (c *Config) SpeaksTrees() bool { return c.Mode == Persistent && !c.FloodOnly }
