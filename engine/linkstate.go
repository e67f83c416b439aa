package engine

import "sync/atomic"

// linkState packs a link's lifecycle state, its one-way marks, the goaway
// reason it will send and the reason it went down into one atomic word:
// four bytes on every link. Any goroutine.
//
//	bits 0-7    marks (flagSlowCounted …), each set once
//	bits 8-15   the goaway payload byte to send (proto.GoawayTooManyLinks), 0 for none
//	bits 16-23  the Reason the link went down, first wins
//	bits 24-31  the lifecycle state (stateHandshake …)
//
// Load, Store, Swap and CompareAndSwap read and change the lifecycle state
// alone, as an atomic.Int32 would; the other methods, the rest.
type linkState struct{ w atomic.Uint32 }

// The lifecycle states, in the order a link goes through them.
const (
	stateHandshake int32 = iota
	stateReady
	stateDraining
	stateClosed
)

const (
	flagSlowCounted        uint32 = 1 << iota // counted in Stats.SlowPeers
	flagGoawaySent                            // goaway queued to the peer
	flagGoawayRecv                            // the peer's goaway arrived
	flagAbandoned                             // the dialer gave up: close on arrival
	flagCloseAfterReply                       // short-mode acceptor: close once the reply is out
	flagShortServed                           // short-mode acceptor: the link got its one message
	flagHandshakeSlot                         // an inbound socket counted among pending handshakes
	flagHandshakeSlotFreed                    // … and uncounted: the handshake is over
)

const (
	goawayShift = 8
	downShift   = 16
	stateShift  = 24
	byteMask    = 0xff
)

// Load returns the lifecycle state.
func (s *linkState) Load() int32 { return int32(s.w.Load() >> stateShift) }

// Store sets the lifecycle state.
func (s *linkState) Store(st int32) { s.Swap(st) }

// Swap sets the lifecycle state and returns the one it replaced.
func (s *linkState) Swap(st int32) int32 {
	for {
		old := s.w.Load()
		if s.w.CompareAndSwap(old, withByte(old, stateShift, byte(st))) {
			return int32(old >> stateShift)
		}
	}
}

// CompareAndSwap sets the lifecycle state to st if it is old, and reports
// whether it did.
func (s *linkState) CompareAndSwap(old, st int32) bool {
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

// mark sets flag and reports whether this call set it.
func (s *linkState) mark(flag uint32) bool { return s.w.Or(flag)&flag == 0 }

// has reports whether flag is set.
func (s *linkState) has(flag uint32) bool { return s.w.Load()&flag != 0 }

// setGoawayReason sets the payload byte of the goaway pc will send.
func (s *linkState) setGoawayReason(b byte) {
	for {
		old := s.w.Load()
		if s.w.CompareAndSwap(old, withByte(old, goawayShift, b)) {
			return
		}
	}
}

// goawayReason is the payload byte of the goaway to send.
func (s *linkState) goawayReason() byte { return byte(s.w.Load() >> goawayShift) }

// setDown records r unless a reason is already recorded.
func (s *linkState) setDown(r Reason) {
	for {
		old := s.w.Load()
		if old>>downShift&byteMask != 0 || s.w.CompareAndSwap(old, withByte(old, downShift, byte(r))) {
			return
		}
	}
}

// down is the recorded Reason, ReasonNone if none.
func (s *linkState) down() Reason { return Reason(byte(s.w.Load() >> downShift)) }

// withByte is w with its byte at shift replaced by b.
func withByte(w uint32, shift uint, b byte) uint32 {
	return w&^(byteMask<<shift) | uint32(b)<<shift
}
