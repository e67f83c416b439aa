package engine_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/antnet-p2p/antnet/engine"
	"github.com/antnet-p2p/antnet/proto"
	"github.com/antnet-p2p/antnet/secure"
)

// upper answers a request with its message in capitals.
var upper = proto.HandlerFunc(func(ctx proto.Context, msg []byte) ([]byte, error) {
	return []byte(strings.ToUpper(string(msg))), nil
})

// A node for a daemon: every interface, an advertised address, bounded
// resources, and logs. New checks the options; Start binds and serves.
func ExampleNew() {
	node, err := engine.New("luda", "0.0.0.0:0", upper,
		engine.WithAdvertiseAddr("127.0.0.1:12345"), // what peers dial: required on 0.0.0.0
		engine.WithMaxConns(10_000),
		engine.WithMaxInFlight(1024),
		engine.WithKeepalive(10*time.Second),
		engine.WithDeadPeerTimeout(30*time.Second),
		engine.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := node.Start(); err != nil {
		fmt.Println(err)
		return
	}
	defer node.Close()
	fmt.Println(node.ID())

	_, err = engine.New("x", "127.0.0.1:0", nil, engine.WithTimeout(0))
	fmt.Println(errors.Is(err, engine.ErrBadOption))
	// Output:
	// luda@127.0.0.1:12345
	// true
}

func ExampleNode_Dispatch() {
	server, _ := engine.New("server", "127.0.0.1:0", upper)
	client, _ := engine.New("client", "127.0.0.1:0", nil)
	_ = server.Start()
	_ = client.Start()
	defer server.Close()
	defer client.Close()

	if err := client.AddRoute("server", server.Addr()); err != nil {
		fmt.Println(err)
		return
	}
	reply, err := client.Dispatch("server", []byte("hello"))
	fmt.Println(string(reply), err)
	// Output: HELLO <nil>
}

func ExampleNode_DispatchAll() {
	a, _ := engine.New("a", "127.0.0.1:0", nil, engine.WithMode(engine.Short))
	_ = a.Start()
	defer a.Close()
	for _, name := range []string{"b", "c"} {
		p, _ := engine.New(name, "127.0.0.1:0", upper, engine.WithMode(engine.Short))
		_ = p.Start()
		defer p.Close()
		_ = a.AddRoute(name, p.Addr())
	}
	for _, r := range a.DispatchAll([]byte("hi")) {
		fmt.Println(string(r.Reply), r.Err)
	}
	// Output:
	// HI <nil>
	// HI <nil>
}

func ExampleNode_Broadcast() {
	got := make(chan string, 2)
	h := proto.HandlerFunc(func(ctx proto.Context, msg []byte) ([]byte, error) {
		got <- ctx.Origin().Name + " says " + string(msg)
		return nil, nil
	})
	a, _ := engine.New("a", "127.0.0.1:0", h)
	b, _ := engine.New("b", "127.0.0.1:0", h)
	c, _ := engine.New("c", "127.0.0.1:0", h)
	for _, n := range []*engine.Node{a, b, c} {
		_ = n.Start()
		defer n.Close()
	}
	_ = a.AddRoute("b", b.Addr()) // a line: a - b - c
	_ = b.AddRoute("c", c.Addr())
	_, _ = a.Broadcast([]byte("hi"))
	fmt.Println(<-got)
	fmt.Println(<-got)
	// Output:
	// a says hi
	// a says hi
}

// A handler that has to wait defers its reply and answers from a goroutine.
func ExampleNode_deferredReply() {
	slow := proto.HandlerFunc(func(ctx proto.Context, msg []byte) ([]byte, error) {
		r := ctx.Defer()
		m := string(msg) // msg is valid only during Handle
		go func() { _ = r.Send([]byte("done: "+m), nil) }()
		return nil, nil
	})
	server, _ := engine.New("server", "127.0.0.1:0", slow)
	client, _ := engine.New("client", "127.0.0.1:0", nil)
	_ = server.Start()
	_ = client.Start()
	defer server.Close()
	defer client.Close()
	_ = client.AddRoute("server", server.Addr())
	reply, err := client.Dispatch("server", []byte("job"))
	fmt.Println(string(reply), err)
	// Output: done: job <nil>
}

// Secure nodes authenticate each other by static key; the server admits only
// the client it knows.
func ExampleWithIdentity() {
	serverKey, _ := secure.Generate()
	clientKey, _ := secure.Generate()
	server, _ := engine.New("server", "127.0.0.1:0", upper,
		engine.WithIdentity(serverKey), engine.WithAllowKeys(clientKey.Public()))
	client, _ := engine.New("client", "127.0.0.1:0", nil, engine.WithIdentity(clientKey))
	_ = server.Start()
	_ = client.Start()
	defer server.Close()
	defer client.Close()

	_ = client.AddRoute("server", server.Addr())
	reply, err := client.Dispatch("server", []byte("sealed"))
	fmt.Println(string(reply), err)
	peer := client.Peers()[0]
	fmt.Println(peer.Fingerprint() == server.ID().Fingerprint())
	// Output:
	// SEALED <nil>
	// true
}

// Peer events arrive on the event loop: hand them to a channel.
func ExampleWithPeerEvents() {
	events := make(chan engine.PeerEvent, 4)
	a, _ := engine.New("a", "127.0.0.1:0", nil,
		engine.WithPeerEvents(func(ev engine.PeerEvent) { events <- ev }))
	b, _ := engine.New("b", "127.0.0.1:0", nil)
	_ = a.Start()
	_ = b.Start()
	defer a.Close()
	defer b.Close()

	_ = a.AddRoute("b", b.Addr())
	ev := <-events
	fmt.Println(ev.Peer.Name, "up:", ev.Up, "dialed:", ev.Outbound)
	_ = a.Delete("b")
	ev = <-events
	fmt.Println(ev.Peer.Name, "up:", ev.Up)
	// Output:
	// b up: true dialed: true
	// b up: false
}

// Stats is a snapshot of atomic counters; PublishExpvar shows the same at
// /debug/vars.
func ExampleNode_Stats() {
	server, _ := engine.New("server", "127.0.0.1:0", upper)
	client, _ := engine.New("client", "127.0.0.1:0", nil)
	_ = server.Start()
	_ = client.Start()
	defer server.Close()
	defer client.Close()

	_ = client.AddRoute("server", server.Addr())
	for range 3 {
		_, _ = client.Dispatch("server", []byte("x"))
	}
	st := client.Stats()
	fmt.Println("peers:", st.Peers, "links:", st.PersistentLinks, "requests:", st.Requests, "in flight:", st.InFlight)
	// Output: peers: 1 links: 1 requests: 3 in flight: 0
}
