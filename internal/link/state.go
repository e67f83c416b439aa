package link

import "sync/atomic"

// State packs a link's lifecycle state, its one-way marks, the goaway
// reason it will send and the reason it went down into one atomic word:
// four bytes on every link. Any goroutine; each method is one or a few
// atomic operations and allocates nothing.
//
//	bits 0-7    marks (FlagSlowCounted …), each set once
//	bits 8-15   the goaway payload byte to send, 0 for none
//	bits 16-23  the reason the link went down (the engine's Reason), first wins
//	bits 24-31  the lifecycle state (Handshake …)
//
// Load, Store, Swap and CompareAndSwap read and change the lifecycle state
// alone, as an atomic.Int32 would; the other methods, the rest.
type State struct{ w atomic.Uint32 }

// The lifecycle states, in the order a link goes through them.
const (
	Handshake int32 = iota // hello (and Noise) in progress
	Ready                  // takes requests
	Draining               // takes no new requests; closes once its own are answered
	Closed                 // the socket is gone
)

// The one-way marks of a link.
const (
	FlagSlowCounted        uint32 = 1 << iota // counted among the slow peers
	FlagGoawaySent                            // goaway queued to the peer
	FlagGoawayRecv                            // the peer's goaway arrived
	FlagAbandoned                             // the dialer gave up: close on arrival
	FlagCloseAfterReply                       // short-mode acceptor: close once the reply is out
	FlagShortServed                           // short-mode acceptor: the link got its one message
	FlagHandshakeSlot                         // an inbound socket counted among pending handshakes
	FlagHandshakeSlotFreed                    // … and uncounted: the handshake is over
)

const (
	goawayShift = 8
	downShift   = 16
	stateShift  = 24
	byteMask    = 0xff
)

// Load returns the lifecycle state.
func (s *State) Load() int32 { return int32(s.w.Load() >> stateShift) }

// Store sets the lifecycle state.
func (s *State) Store(st int32) { s.Swap(st) }

// Swap sets the lifecycle state and returns the one it replaced.
func (s *State) Swap(st int32) int32 {
	for {
		old := s.w.Load()
		if s.w.CompareAndSwap(old, withByte(old, stateShift, byte(st))) {
			return int32(old >> stateShift)
		}
	}
}

// CompareAndSwap sets the lifecycle state to st if it is old, and reports
// whether it did.
func (s *State) CompareAndSwap(old, st int32) bool {
	for {
		w := s.w.Load()
		if int32(w>>stateShift) != old {
			return false
		}
		if s.w.CompareAndSwap(w, withByte(w, stateShift, byte(st))) {
			return true
		}
	}
}

// Mark sets flag and reports whether this call set it.
func (s *State) Mark(flag uint32) bool { return s.w.Or(flag)&flag == 0 }

// Has reports whether flag is set.
func (s *State) Has(flag uint32) bool { return s.w.Load()&flag != 0 }

// SetGoaway sets the payload byte of the goaway the link will send.
func (s *State) SetGoaway(b byte) {
	for {
		old := s.w.Load()
		if s.w.CompareAndSwap(old, withByte(old, goawayShift, b)) {
			return
		}
	}
}

// Goaway is the payload byte of the goaway to send.
func (s *State) Goaway() byte { return byte(s.w.Load() >> goawayShift) }

// SetDown records why the link went down (non-zero) unless a reason is
// already recorded.
func (s *State) SetDown(r byte) {
	for {
		old := s.w.Load()
		if old>>downShift&byteMask != 0 || s.w.CompareAndSwap(old, withByte(old, downShift, r)) {
			return
		}
	}
}

// Down is the recorded reason, 0 if none.
func (s *State) Down() byte { return byte(s.w.Load() >> downShift) }

// withByte is w with its byte at shift replaced by b.
func withByte(w uint32, shift uint, b byte) uint32 {
	return w&^(byteMask<<shift) | uint32(b)<<shift
}
