package engine

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/proto"
)

// A short-mode node serves from its accept goroutine the way a loop does:
// a panicking handler answers CodePanic (counted) and the next request is
// served; a blocking call inside the handler gets ErrOnEventLoop instead of
// stalling the accepts; a notice is handled; the counters end balanced.
func TestShortServedByTheAcceptor(t *testing.T) {
	var srv *Node
	notices := make(chan string, 1)
	h := proto.HandlerFunc(func(ctx proto.Context, msg []byte) ([]byte, error) {
		switch string(msg) {
		case "boom":
			panic("boom")
		case "dispatch":
			_, err := srv.Dispatch("cli", []byte("x"))
			return []byte(fmt.Sprint(err)), nil
		}
		if ctx.Kind().String() == "notice" {
			notices <- string(msg)
			return nil, nil
		}
		return append([]byte("echo:"), msg...), nil
	})
	srv = startNode(t, "srv", h, WithMode(Short))
	cli := startNode(t, "cli", echo, WithMode(Short))
	linkNodes(t, cli, srv)
	linkNodes(t, srv, cli)

	_, err := cli.Dispatch("srv", []byte("boom"))
	var re *proto.RemoteError
	if !errors.As(err, &re) || re.Code != proto.CodePanic {
		t.Fatalf("panicking handler: %v, want a CodePanic answer", err)
	}
	if n := srv.Stats().HandlerPanics; n != 1 {
		t.Fatalf("HandlerPanics = %d", n)
	}
	got, err := cli.Dispatch("srv", []byte("dispatch"))
	if err != nil || string(got) != ErrOnEventLoop.Error() {
		t.Fatalf("Dispatch inside the handler: %q %v, want %q", got, err, ErrOnEventLoop)
	}
	if got, err := cli.Dispatch("srv", []byte("q")); err != nil || string(got) != "echo:q" {
		t.Fatalf("after the panic: %q %v", got, err)
	}
	if err := cli.Send("srv", []byte("n")); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-notices:
		if m != "n" {
			t.Fatalf("notice %q", m)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("short notice lost")
	}
	eventually(t, 2*time.Second, "the short sockets to close", func() bool {
		a, b := cli.Stats(), srv.Stats()
		return a.Conns == 0 && b.Conns == 0 && a.ShortLinks == 0 && b.ShortLinks == 0
	})
	if st := cli.Stats(); st.Requests != 3 || st.InFlight != 0 || st.RemoteErrors != 1 {
		t.Fatalf("client stats: %+v", st)
	}
}

// A handler that blocks the accept goroutine counts as a stall, as on a
// loop.
func TestShortServedByTheAcceptorStalls(t *testing.T) {
	h := proto.HandlerFunc(func(_ proto.Context, msg []byte) ([]byte, error) {
		time.Sleep(60 * time.Millisecond)
		return msg, nil
	})
	srv := startNode(t, "srv", h, WithMode(Short), WithStallThreshold(20*time.Millisecond))
	cli := startNode(t, "cli", nil, WithMode(Short))
	linkNodes(t, cli, srv)
	if _, err := cli.Dispatch("srv", []byte("q")); err != nil {
		t.Fatal(err)
	}
	if n := srv.Stats().LoopStalls; n < 1 {
		t.Fatalf("LoopStalls = %d, want the blocking handler counted", n)
	}
}
