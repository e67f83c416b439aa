package engine

import (
	"testing"
	"unsafe"
)

// TestPeerConnFitsItsSizeClass: a link's peerConn is in the 288-byte size
// class, the largest part of what an idle link holds (docs/BENCHMARKS.md,
// "Where an idle link's bytes go"). A field added past it costs 32 bytes a
// link: make room first.
func TestPeerConnFitsItsSizeClass(t *testing.T) {
	if got := unsafe.Sizeof(peerConn{}); got > 288 {
		t.Fatalf("peerConn is %d bytes, budget 288 (one size class)", got)
	}
}
