package engine

import "sync/atomic"

// linkFlags packs a link's one-way marks, the goaway reason it will send and
// the reason it went down into one atomic word: four bytes on every link.
// Any goroutine.
//
//	bits 0-7    marks (flagSlowCounted …), each set once
//	bits 8-15   the goaway payload byte to send (proto.GoawayTooManyLinks), 0 for none
//	bits 16-23  the Reason the link went down, first wins
type linkFlags struct{ w atomic.Uint32 }

const (
	flagSlowCounted     uint32 = 1 << iota // counted in Stats.SlowPeers
	flagGoawaySent                         // goaway queued to the peer
	flagGoawayRecv                         // the peer's goaway arrived
	flagAbandoned                          // the dialer gave up: close on arrival
	flagCloseAfterReply                    // short-mode acceptor: close once the reply is out
	flagShortServed                        // short-mode acceptor: the link got its one message
)

const (
	goawayShift = 8
	downShift   = 16
	byteMask    = 0xff
)

// mark sets flag and reports whether this call set it.
func (f *linkFlags) mark(flag uint32) bool { return f.w.Or(flag)&flag == 0 }

// has reports whether flag is set.
func (f *linkFlags) has(flag uint32) bool { return f.w.Load()&flag != 0 }

// setGoawayReason sets the payload byte of the goaway pc will send.
func (f *linkFlags) setGoawayReason(b byte) {
	for {
		old := f.w.Load()
		if f.w.CompareAndSwap(old, old&^(byteMask<<goawayShift)|uint32(b)<<goawayShift) {
			return
		}
	}
}

// goawayReason is the payload byte of the goaway to send.
func (f *linkFlags) goawayReason() byte { return byte(f.w.Load() >> goawayShift) }

// setDown records r unless a reason is already recorded.
func (f *linkFlags) setDown(r Reason) {
	for {
		old := f.w.Load()
		if old>>downShift&byteMask != 0 || f.w.CompareAndSwap(old, old|uint32(byte(r))<<downShift) {
			return
		}
	}
}

// down is the recorded Reason, ReasonNone if none.
func (f *linkFlags) down() Reason { return Reason(byte(f.w.Load() >> downShift)) }
