package engine

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/codec"
)

// Item 1: before its handshake a socket costs at most one hello-sized frame.
func TestPendingHandshakeMemoryBounded(t *testing.T) {
	const N = 50
	srv := startNode(t, "srv", echo, WithHandshakeTimeout(time.Minute))
	max := codec.DefaultMaxFrameSize

	// N sockets each announce a max-size hello and send all of it but the
	// last byte.
	base := heapInUse()
	errsBefore := srv.Stats().ProtocolErrors
	body := make([]byte, max-codec.HeaderSize-1)
	socks := make([]net.Conn, N)
	for i := range socks {
		c, err := net.Dial("tcp", srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		socks[i] = c
		_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_, _ = c.Write(codec.AppendHeader(nil, codec.KindHello, 0, 0, 0, len(body)+1))
		_, _ = c.Write(body) // the node may have closed the socket already
	}
	eventually(t, 10*time.Second, "the node to read or refuse every socket", func() bool {
		pcs := pendingInbound(srv)
		return len(pcs) == 0 || inboundHeld(pcs) >= N*len(body)
	})
	grown := heapInUse() - base
	open := len(pendingInbound(srv))
	t.Logf("%d sockets announcing %d-byte hellos, all but 1 byte sent: heap %+.1f MiB (%.1f KiB per socket), %d left open",
		N, max, float64(grown)/(1<<20), float64(grown)/N/1024, open)
	if open != 0 {
		t.Fatalf("%d sockets announcing a %d-byte frame before the handshake are still open", open, max)
	}
	if got := srv.Stats().ProtocolErrors - errsBefore; got != N {
		t.Fatalf("ProtocolErrors grew by %d, want %d", got, N)
	}
	for _, c := range socks {
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.Copy(io.Discard, c); err != nil && isTimeout(err) {
			t.Fatal("a socket announcing an oversized hello was not closed")
		}
	}
	if grown > N*handshakeBound {
		t.Fatalf("refused sockets still cost %d bytes", grown)
	}

	// One byte over the bound is refused as well, and so is a Noise message
	// that big on a secure node.
	p := dialRaw(t, srv.Addr())
	p.write(codec.AppendHeader(nil, codec.KindHello, 0, 0, 0, handshakeBound-codec.HeaderSize+1))
	p.closedBy(time.Second)
	sec := startNode(t, "sec", echo, WithIdentity(newIdentity(t)))
	p = dialRaw(t, sec.Addr())
	p.write(codec.AppendHeader(nil, codec.KindSecure, 0, 0, 0, handshakeBound-codec.HeaderSize+1))
	p.closedBy(time.Second)
	if sec.Stats().ProtocolErrors != 1 {
		t.Fatal("the oversized Noise message was not counted")
	}

	// A dialer whose peer answers its hello with an oversized frame says so.
	addr := fakeAcceptor(t, func([]byte) []byte {
		return codec.AppendHeader(nil, codec.KindHelloAck, 0, 0, 0, 1<<20)
	})
	err := srv.AddRoute("big", addr)
	mustErrIs(t, err, ErrProtocol)
	mustErrIs(t, err, codec.ErrFrameTooLarge)

	// N sockets each send a frame of exactly the bound but its last byte:
	// they stay open, and each costs at most the bound on top of an idle
	// socket.
	base = heapInUse()
	for i := range socks {
		socks[i] = dialRaw(t, srv.Addr()).c
	}
	eventually(t, 5*time.Second, "sockets accepted", func() bool { return len(pendingInbound(srv)) == N })
	idle := heapInUse()
	part := codec.AppendHeader(nil, codec.KindHello, 0, 0, 0, handshakeBound-codec.HeaderSize)
	part = append(part, make([]byte, handshakeBound-codec.HeaderSize-1)...)
	for _, c := range socks {
		if _, err := c.Write(part); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 5*time.Second, "the node to buffer every partial hello", func() bool {
		pcs := pendingInbound(srv)
		return len(pcs) == N && inboundHeld(pcs) == N*len(part)
	})
	held := heapInUse()
	perIdle, perPartial := float64(idle-base)/N, float64(held-idle)/N
	t.Logf("%d sockets, idle: %.1f KiB each; with a %d-byte partial hello: %+.1f KiB each; total %.1f KiB each",
		N, perIdle/1024, len(part), perPartial/1024, (perIdle+perPartial)/1024)
	if perPartial > handshakeBound+1024 {
		t.Fatalf("a partial hello costs %.0f bytes per socket, bound %d", perPartial, handshakeBound)
	}
	if per := perIdle + perPartial; per > handshakeBound+16<<10 {
		t.Fatalf("a pending socket costs %.0f bytes", per)
	}
}
