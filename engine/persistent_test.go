package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/internal/link"
	"github.com/antnet-p2p/antnet/proto"
	"github.com/antnet-p2p/antnet/route"
)

func TestPersistentRequestReply(t *testing.T) {
	a := startNode(t, "a", echo)
	b := startNode(t, "b", echo)
	linkNodes(t, a, b)

	got, err := a.Dispatch("b", []byte("hi"))
	if err != nil || string(got) != "echo:hi" {
		t.Fatalf("Dispatch = %q, %v", got, err)
	}
	// The inbound peer joined b's table by itself, so b can ask back.
	eventually(t, time.Second, "b to learn a", func() bool { return len(b.Peers()) == 1 })
	if p := b.Peers()[0]; p != a.ID() {
		t.Fatalf("b.Peers = %v, want %v", p, a.ID())
	}
	got, err = b.Dispatch(a.ID().String(), []byte("back"))
	if err != nil || string(got) != "echo:back" {
		t.Fatalf("reverse Dispatch = %q, %v", got, err)
	}
	if a.Stats().Conns != 1 || b.Stats().Conns != 1 {
		t.Fatalf("conns a=%d b=%d, want one link", a.Stats().Conns, b.Stats().Conns)
	}
}

// Many requests in flight on one link, answered in reverse order.
func TestOutOfOrderReplies(t *testing.T) {
	const calls = 64
	var (
		mu      sync.Mutex
		waiting []proto.Reply
		msgs    [][]byte
	)
	h := proto.HandlerFunc(func(ctx proto.Context, msg []byte) ([]byte, error) {
		r := ctx.Defer()
		mu.Lock()
		defer mu.Unlock()
		waiting = append(waiting, r)
		msgs = append(msgs, append([]byte(nil), msg...))
		if len(waiting) == calls {
			go func(rs []proto.Reply, ms [][]byte) {
				for i := len(rs) - 1; i >= 0; i-- {
					_ = rs[i].Send(append([]byte("r:"), ms[i]...), nil)
				}
			}(waiting, msgs)
		}
		return nil, nil
	})
	a := startNode(t, "a", nil)
	b := startNode(t, "b", h)
	linkNodes(t, a, b)

	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := fmt.Sprintf("m%d", i)
			got, err := a.Dispatch("b", []byte(msg))
			if err != nil {
				errs <- err
			} else if string(got) != "r:"+msg {
				errs <- fmt.Errorf("call %d got %q", i, got)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if a.Stats().Conns != 1 {
		t.Fatalf("want all calls on one link, conns = %d", a.Stats().Conns)
	}
}

func TestSendNotice(t *testing.T) {
	got := make(chan string, 1)
	b := startNode(t, "b", proto.HandlerFunc(func(ctx proto.Context, msg []byte) ([]byte, error) {
		if ctx.Kind() != codec.KindNotice || ctx.Peer().Name != "a" {
			t.Errorf("kind %v from %v", ctx.Kind(), ctx.Peer())
		}
		got <- string(msg)
		return []byte("ignored"), nil
	}))
	a := startNode(t, "a", echo)
	linkNodes(t, a, b)
	if err := a.Send("b", []byte("note")); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m != "note" {
			t.Fatalf("notice = %q", m)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("notice not delivered")
	}
	if s := a.Stats(); s.UnknownReplies != 0 {
		t.Fatalf("a notice drew an answer: %+v", s)
	}
}

func TestDispatchAll(t *testing.T) {
	a := startNode(t, "a", echo)
	b := startNode(t, "b", echo)
	c := startNode(t, "c", echo)
	bad := startNode(t, "bad", proto.HandlerFunc(func(proto.Context, []byte) ([]byte, error) {
		return nil, errors.New("no thanks")
	}))
	for _, p := range []*Node{b, c, bad} {
		linkNodes(t, a, p)
	}
	res := a.DispatchAll([]byte("x"))
	if len(res) != 3 {
		t.Fatalf("results = %v", res)
	}
	for _, p := range []*Node{b, c} {
		r := res[p.ID().String()]
		if r.Err != nil || string(r.Reply) != "echo:x" {
			t.Fatalf("%s: %q %v", p.ID(), r.Reply, r.Err)
		}
	}
	var re *proto.RemoteError
	r := res[bad.ID().String()]
	if !errors.As(r.Err, &re) || re.Code != proto.CodeHandler || re.Message != "no thanks" || re.Peer != bad.ID() {
		t.Fatalf("bad peer result = %v", r.Err)
	}
}

// never defers every request and never answers.
var never = proto.HandlerFunc(func(ctx proto.Context, _ []byte) ([]byte, error) {
	ctx.Defer()
	return nil, nil
})

func TestLostConnectionFailsPendingAtOnce(t *testing.T) {
	a := startNode(t, "a", nil, WithTimeout(20*time.Second))
	b := startNode(t, "b", never)
	linkNodes(t, a, b)

	const calls = 8
	errs := make(chan error, calls)
	for range calls {
		go func() {
			_, err := a.Dispatch("b", []byte("x"))
			errs <- err
		}()
	}
	eventually(t, 2*time.Second, "requests in flight", func() bool { return inflight(a) == calls })
	start := time.Now()
	// b serves the requests (deferred, never answered): a graceful close
	// would wait for them; an expired context closes at once.
	now, cancel := context.WithCancel(context.Background())
	cancel()
	_ = b.Shutdown(now)
	for range calls {
		mustErrIs(t, <-errs, ErrConnLost)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("pending requests failed after %v, want well before the 20s timeout", d)
	}
}

func TestTimeoutAndCancel(t *testing.T) {
	a := startNode(t, "a", nil, WithTimeout(150*time.Millisecond))
	b := startNode(t, "b", never)
	linkNodes(t, a, b)

	_, err := a.Dispatch("b", []byte("x"))
	mustErrIs(t, err, ErrTimeout)

	// Cancelled while in flight: the request is pending when cancel runs.
	ctx, cancel := context.WithCancel(context.Background())
	canceled := make(chan error, 1)
	go func() {
		_, err := a.DispatchContext(ctx, "b", []byte("x"))
		canceled <- err
	}()
	eventually(t, time.Second, "the request in flight", func() bool { return inflight(a) == 1 })
	cancel()
	mustErrIs(t, <-canceled, context.Canceled)

	ctx, cancel2 := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel2()
	_, err = a.DispatchContext(ctx, "b", []byte("x"))
	mustErrIs(t, err, context.DeadlineExceeded)
	if n := inflight(a); n != 0 {
		t.Fatalf("withdrawn requests still pending: %d", n)
	}
}

func TestHandlerPanicIsContained(t *testing.T) {
	h := proto.HandlerFunc(func(_ proto.Context, msg []byte) ([]byte, error) {
		if string(msg) == "boom" {
			panic("kaboom")
		}
		return msg, nil
	})
	srv := startNode(t, "srv", h)
	a := startNode(t, "a", nil)
	c := startNode(t, "c", nil)
	linkNodes(t, a, srv)
	linkNodes(t, c, srv)

	_, err := a.Dispatch("srv", []byte("boom"))
	mustErrIs(t, err, proto.ErrHandlerPanic)
	mustErrIs(t, err, proto.ErrRemote)
	if !bytes.Contains([]byte(err.Error()), []byte("kaboom")) {
		t.Fatalf("panic value missing from %v", err)
	}
	for _, n := range []*Node{a, c} {
		if got, err := n.Dispatch("srv", []byte("ok")); err != nil || string(got) != "ok" {
			t.Fatalf("%s after panic: %q %v", n.ID(), got, err)
		}
	}
	if s := srv.Stats(); s.HandlerPanics != 1 {
		t.Fatalf("HandlerPanics = %d", s.HandlerPanics)
	}
}

func TestBlockingCallFromHandlerIsRefused(t *testing.T) {
	var node *Node
	other := startNode(t, "other", echo)
	calls := map[string]func(ctx proto.Context, msg []byte) error{
		"dispatch": func(ctx proto.Context, msg []byte) error {
			_, err := node.Dispatch(ctx.Peer().String(), msg)
			return err
		},
		"addroute": func(proto.Context, []byte) error { return node.AddRoute("other", other.Addr()) },
		"close":    func(proto.Context, []byte) error { return node.Close() },
		"dispatchall": func(_ proto.Context, msg []byte) error {
			for _, r := range node.DispatchAll(msg) {
				return r.Err
			}
			return errors.New("no result")
		},
	}
	h := proto.HandlerFunc(func(ctx proto.Context, msg []byte) ([]byte, error) {
		return nil, calls[string(msg)](ctx, msg)
	})
	node = startNode(t, "srv", h)
	a := startNode(t, "a", echo)
	linkNodes(t, a, node)
	for name := range calls {
		_, err := a.Dispatch("srv", []byte(name))
		var re *proto.RemoteError
		if !errors.As(err, &re) || re.Message != ErrOnEventLoop.Error() {
			t.Fatalf("%s: err = %v, want the handler's ErrOnEventLoop", name, err)
		}
	}
	if err := node.checkRunning(); err != nil {
		t.Fatalf("node after a refused Close: %v", err)
	}
}

// A handler on a worker may block, but Close would wait for the worker
// itself: it is refused too, and the node keeps serving.
func TestCloseFromWorkerIsRefused(t *testing.T) {
	var node *Node
	h := proto.HandlerFunc(func(proto.Context, []byte) ([]byte, error) { return nil, node.Close() })
	node = startNode(t, "srv", h, WithWorkers(2), WithWorkerQueue(16))
	a := startNode(t, "a", echo)
	linkNodes(t, a, node)
	for range 3 {
		_, err := a.Dispatch("srv", []byte("close"))
		var re *proto.RemoteError
		if !errors.As(err, &re) || re.Message != ErrOnEventLoop.Error() {
			t.Fatalf("err = %v, want the handler's ErrOnEventLoop", err)
		}
	}
	if err := node.Close(); err != nil {
		t.Fatal(err)
	}
}

// A handler that needs another peer's answer defers and asks off the loop.
func TestDeferredRelay(t *testing.T) {
	var mid *Node
	back := startNode(t, "back", echo)
	mid = startNode(t, "mid", proto.HandlerFunc(func(ctx proto.Context, msg []byte) ([]byte, error) {
		r := ctx.Defer()
		m := append([]byte(nil), msg...)
		go func() { _ = r.Send(mid.Dispatch("back", m)) }()
		return nil, nil
	}))
	front := startNode(t, "front", nil)
	linkNodes(t, mid, back)
	linkNodes(t, front, mid)
	got, err := front.Dispatch("mid", []byte("relay"))
	if err != nil || string(got) != "echo:relay" {
		t.Fatalf("relay = %q, %v", got, err)
	}
}

func TestWorkersMayBlock(t *testing.T) {
	h := proto.HandlerFunc(func(_ proto.Context, msg []byte) ([]byte, error) {
		time.Sleep(50 * time.Millisecond) // the blocking work under test, not a wait
		return msg, nil
	})
	srv := startNode(t, "srv", h, WithWorkers(4), WithWorkerQueue(16), WithEventLoops(1))
	a := startNode(t, "a", nil)
	linkNodes(t, a, srv)

	start := time.Now()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := fmt.Sprint(i)
			if got, err := a.Dispatch("srv", []byte(msg)); err != nil || string(got) != msg {
				t.Errorf("call %d: %q %v", i, got, err)
			}
		}()
	}
	wg.Wait()
	// 8 calls of 50ms on 4 workers: ~100ms; on the single event loop it would be 400ms.
	if d := time.Since(start); d > 350*time.Millisecond {
		t.Fatalf("8 blocking calls took %v; workers did not run in parallel", d)
	}
}

func TestWorkerQueueFullAnswersBusy(t *testing.T) {
	release := make(chan struct{})
	h := proto.HandlerFunc(func(_ proto.Context, msg []byte) ([]byte, error) {
		<-release
		return msg, nil
	})
	srv := startNode(t, "srv", h, WithWorkers(1), WithWorkerQueue(1))
	a := startNode(t, "a", nil)
	linkNodes(t, a, srv)
	errs := make(chan error, 3)
	for range 3 {
		go func() { _, err := a.Dispatch("srv", []byte("x")); errs <- err }()
	}
	// One runs, one waits in the queue, the third is refused.
	mustErrIs(t, <-errs, proto.ErrRemoteBusy)
	close(release)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func TestAddRouteErrors(t *testing.T) {
	a := startNode(t, "a", echo)
	b := startNode(t, "b", echo)

	mustErrIs(t, a.AddRoute("a", a.Addr()), ErrSelf)
	mustErrIs(t, a.AddRoute("not-b", b.Addr()), ErrPeerMismatch)
	if len(a.Peers()) != 0 {
		t.Fatalf("failed AddRoute left a route: %v", a.Peers())
	}
	mustErrIs(t, a.AddRoute("b", "127.0.0.1"), proto.ErrBadPeerID)
	// A closed port fails at once, not after the dial timeout.
	dead := startNode(t, "dead", nil)
	addr := dead.Addr()
	_ = dead.Close()
	start := time.Now()
	if err := a.AddRoute("dead", addr); err == nil {
		t.Fatal("AddRoute to a closed port succeeded")
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("refused dial was slow")
	}
	if _, err := a.Dispatch("nobody", nil); !errors.Is(err, route.ErrNoRoute) {
		t.Fatalf("Dispatch to unknown = %v", err)
	}
}

func TestAmbiguousName(t *testing.T) {
	a := startNode(t, "a", nil)
	x1 := startNode(t, "x", echo)
	x2 := startNode(t, "x", echo)
	linkNodes(t, a, x1)
	linkNodes(t, a, x2)
	_, err := a.Dispatch("x", nil)
	mustErrIs(t, err, route.ErrAmbiguous)
	for _, x := range []*Node{x1, x2} {
		for _, key := range []string{x.Addr(), x.ID().String()} {
			if _, err := a.Dispatch(key, []byte("k")); err != nil {
				t.Fatalf("Dispatch(%s) = %v", key, err)
			}
		}
	}
}

func TestDeleteDrainsLink(t *testing.T) {
	a := startNode(t, "a", echo)
	b := startNode(t, "b", echo)
	linkNodes(t, a, b)
	eventually(t, time.Second, "b to learn a", func() bool { return len(b.Peers()) == 1 })
	if err := a.Delete("b"); err != nil {
		t.Fatal(err)
	}
	_, err := a.Dispatch("b", nil)
	mustErrIs(t, err, route.ErrNoRoute)
	eventually(t, 2*time.Second, "the link to close on both sides", func() bool {
		return a.Stats().Conns == 0 && b.Stats().Conns == 0
	})
	if len(b.Peers()) != 0 {
		t.Fatalf("b still routes a learned peer after goaway: %v", b.Peers())
	}
	linkNodes(t, a, b) // and it can come back
	if _, err := a.Dispatch("b", nil); err != nil {
		t.Fatal(err)
	}
}

// Shutdown lets the requests in flight finish before the links close.
func TestShutdownLetsInFlightFinish(t *testing.T) {
	h := proto.HandlerFunc(func(ctx proto.Context, msg []byte) ([]byte, error) {
		r := ctx.Defer()
		m := append([]byte(nil), msg...)
		time.AfterFunc(100*time.Millisecond, func() { _ = r.Send(m, nil) })
		return nil, nil
	})
	a := startNode(t, "a", nil)
	b := startNode(t, "b", h)
	linkNodes(t, a, b)
	done := make(chan error, 1)
	go func() {
		got, err := a.Dispatch("b", []byte("late"))
		if err == nil && string(got) != "late" {
			err = fmt.Errorf("got %q", got)
		}
		done <- err
	}()
	eventually(t, time.Second, "request in flight", func() bool { return inflight(a) == 1 })
	if err := a.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("in-flight request during Shutdown: %v", err)
	}
	_, err := a.Dispatch("b", nil)
	mustErrIs(t, err, ErrClosed)
}

// Close tells every persistent peer goaway before the socket closes, even
// when the loop is busy as Close begins and stays busy a while after
// (150 ms: a slow handler, or a loop not scheduled on a loaded machine).
// gnet queues a loop's first 1024 wakes ahead of its shutdown task and the
// rest behind it, so with more links than that on one loop Close must see
// the goaways written before it stops the engine.
func TestCloseSendsGoaway(t *testing.T) {
	busy, release := make(chan struct{}), make(chan struct{})
	free := sync.OnceFunc(func() { close(release) })
	t.Cleanup(free)
	slow := proto.HandlerFunc(func(_ proto.Context, msg []byte) ([]byte, error) {
		close(busy)
		<-release                          // holds the node's only loop until Close has queued every goaway
		time.Sleep(150 * time.Millisecond) // and a while after: less than goawayIdleWait
		return msg, nil
	})
	a, err := New("a", "127.0.0.1:0", slow, WithEventLoops(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	peers := make([]*rawPeer, 1100)
	for i := range peers {
		peers[i] = dialRaw(t, a.Addr())
		peers[i].hello(fmt.Sprintf("p%d", i), fmt.Sprintf("127.0.0.1:%d", 20001+i))
	}
	eventually(t, 5*time.Second, "a to route the raw peers", func() bool { return len(a.Peers()) == len(peers) })
	peers[0].write(codec.Append(nil, codec.Frame{Kind: codec.KindRequest, ID: 1, Payload: []byte("q")}))
	<-busy
	start := time.Now()
	closed := make(chan error, 1)
	go func() { closed <- a.Close() }()
	eventually(t, 5*time.Second, "Close to queue a goaway to every peer", func() bool {
		queued := 0
		a.conns.Range(func(pc *peerConn) bool {
			if pc.State.Has(link.FlagGoawaySent) {
				queued++
			}
			return true
		})
		return queued == len(peers)
	})
	free()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if f := peers[0].read(); f.Kind != codec.KindResponse || f.ID != 1 {
		t.Fatalf("peer 0: %s %d, want the response to request 1", f.Kind, f.ID)
	}
	for i, p := range peers {
		f, err := p.next()
		if err != nil || f.Kind != codec.KindGoaway {
			t.Fatalf("peer %d: first frame after Close = %v, %v; want goaway", i, f.Kind, err)
		}
		if !bytes.Equal(f.Payload, []byte{proto.GoawayClosing}) {
			t.Fatalf("peer %d: goaway payload % x, want reason %d (closing)", i, f.Payload, proto.GoawayClosing)
		}
		if i == 0 {
			mustBeInProtocolDoc(t, f)
		}
		if _, err := p.next(); !errors.Is(err, io.EOF) {
			t.Fatalf("peer %d: after goaway: %v, want EOF", i, err)
		}
	}
	t.Logf("Close took %v", took)
}
