package engine

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/internal/testkit"
	"github.com/antnet-p2p/antnet/proto"
)

// A dial to a closed port fails with ErrDial in every call that dials, and
// the cause stays reachable with errors.As.
func TestDialErrorsMatchErrDial(t *testing.T) {
	closed := testkit.FreeAddr(t)

	p := startNode(t, "p", nil)
	err := p.AddRoute("gone", closed)
	mustErrIs(t, err, ErrDial)
	var op *net.OpError
	if !errors.As(err, &op) {
		t.Fatalf("AddRoute: %v does not wrap a *net.OpError", err)
	}

	s := startNode(t, "s", nil, WithMode(Short))
	if err := s.AddRoute("gone", closed); err != nil {
		t.Fatal(err)
	}
	_, err = s.Dispatch("gone", []byte("x"))
	mustErrIs(t, err, ErrDial)
	if !errors.As(err, &op) {
		t.Fatalf("short Dispatch: %v does not wrap a *net.OpError", err)
	}
	mustErrIs(t, err, syscall.ECONNREFUSED) // tcpconnect.First's connect and Go's agree on the cause
	err = s.Send("gone", []byte("x"))
	mustErrIs(t, err, ErrDial)
	if !errors.As(err, &op) {
		t.Fatalf("short Send: %v does not wrap a *net.OpError", err)
	}
}

// A request that times out fails with an error that is ErrTimeout and, for
// code written against package net, a net.Error whose Timeout() is true.
func TestTimeoutIsNetError(t *testing.T) {
	srv := startNode(t, "srv", never)
	cli := startNode(t, "cli", nil, WithTimeout(100*time.Millisecond))
	linkNodes(t, cli, srv)
	_, err := cli.Dispatch("srv", []byte("x"))
	mustErrIs(t, err, ErrTimeout)
	var netErr net.Error
	if !errors.As(err, &netErr) || !netErr.Timeout() {
		t.Fatalf("%v (%T): not a net.Error with Timeout()", err, err)
	}
	if errors.Is(err, ErrConnLost) || errors.Is(ErrTimeout, ErrConnLost) {
		t.Fatal("ErrTimeout matches ErrConnLost")
	}
}

// The error paths the sentinel audit found unmatched: each now matches its
// documented sentinel.
func TestAPIErrorsMatchSentinels(t *testing.T) {
	t.Run("New without a host", func(t *testing.T) {
		_, err := New("n", ":0", nil)
		mustErrIs(t, err, proto.ErrBadPeerID)
	})
	t.Run("Start on a taken address", func(t *testing.T) {
		taken := rawListener(t)
		n, err := New("n", taken.Addr().String(), nil)
		if err != nil {
			t.Fatal(err)
		}
		err = n.Start()
		mustErrIs(t, err, ErrListen)
		mustErrIs(t, n.Start(), ErrClosed)
	})
	t.Run("reply sent twice", func(t *testing.T) {
		replies := make(chan proto.Reply, 1)
		h := proto.HandlerFunc(func(ctx proto.Context, msg []byte) ([]byte, error) {
			replies <- ctx.Defer()
			return nil, nil
		})
		srv := startNode(t, "srv", h)
		cli := startNode(t, "cli", nil)
		linkNodes(t, cli, srv)
		done := make(chan error, 1)
		go func() { _, err := cli.Dispatch("srv", []byte("x")); done <- err }()
		r := <-replies
		if err := r.Send([]byte("first"), nil); err != nil {
			t.Fatal(err)
		}
		mustErrIs(t, r.Send([]byte("second"), nil), proto.ErrReplySent)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
	t.Run("garbage hello-ack", func(t *testing.T) {
		// The dialer learns why, as ErrHandshake with the cause, not a
		// bare "closed during handshake".
		cli := startNode(t, "cli", nil)
		addr := fakeAcceptor(t, func([]byte) []byte {
			return codec.Append(nil, codec.Frame{Kind: codec.KindHelloAck, Payload: []byte{0, 0}})
		})
		err := cli.AddRoute("junk", addr)
		mustErrIs(t, err, ErrHandshake)
		mustErrIs(t, err, proto.ErrBadHello)
	})
}

// Closing a node that never started, twice, returns at once, and it cannot
// be started afterwards.
func TestCloseUnstartedNode(t *testing.T) {
	n, err := New("x", "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 2)
	go func() { done <- n.Close(); done <- n.Close() }()
	for range 2 {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Close of a node that never started hangs")
		}
	}
	mustErrIs(t, n.Start(), ErrClosed)
}
