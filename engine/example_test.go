package engine_test

import (
	"fmt"
	"strings"

	"github.com/antnet-p2p/antnet/engine"
	"github.com/antnet-p2p/antnet/proto"
)

// upper answers a request with its message in capitals.
var upper = proto.HandlerFunc(func(ctx proto.Context, msg []byte) ([]byte, error) {
	return []byte(strings.ToUpper(string(msg))), nil
})

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
