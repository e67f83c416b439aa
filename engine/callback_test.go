package engine

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/internal/goid"
)

// callbackCalls are the blocking calls a callback tries, and what each got.
type callbackCalls struct {
	ev                                 PeerEvent
	dispatch, dispatchAll, add, closed error
}

// tryBlocking makes every blocking call from inside a callback.
func tryBlocking(n *Node, ev PeerEvent, other string) callbackCalls {
	r := callbackCalls{ev: ev}
	_, r.dispatch = n.Dispatch(ev.Peer.String(), []byte("x"))
	for _, res := range n.DispatchAll([]byte("x")) {
		r.dispatchAll = res.Err
	}
	r.add = n.AddRoute("other", other)
	r.closed = n.Close()
	return r
}

// A panicking WithPeerEvents callback is recovered and counted, the node
// keeps serving, and blocking calls inside the callback get ErrOnEventLoop
// both on the event loop (Up, on the dialed link) and on the user's
// goroutine (Down, from Delete).
func TestPeerEventsCallbackGuarded(t *testing.T) {
	other := startNode(t, "other", echo)
	calls := make(chan callbackCalls, 4)
	var a *Node
	a = startNode(t, "a", echo, WithPeerEvents(func(ev PeerEvent) {
		select {
		case calls <- tryBlocking(a, ev, other.Addr()):
		default: // the test stopped listening (Close's events)
		}
		panic("boom in peer events")
	}))
	b := startNode(t, "b", echo)
	linkNodes(t, a, b)
	check := func(wantUp bool) {
		t.Helper()
		select {
		case r := <-calls:
			if r.ev.Up != wantUp {
				t.Fatalf("event %+v, want Up=%v", r.ev, wantUp)
			}
			for name, err := range map[string]error{"Dispatch": r.dispatch, "DispatchAll": r.dispatchAll, "AddRoute": r.add, "Close": r.closed} {
				if !errors.Is(err, ErrOnEventLoop) {
					t.Fatalf("Up=%v: %s inside the callback = %v, want ErrOnEventLoop", wantUp, name, err)
				}
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("no event Up=%v", wantUp)
		}
	}
	check(true) // on the event loop
	eventually(t, time.Second, "panic counted", func() bool { return a.Stats().CallbackPanics == 1 })
	if got, err := a.Dispatch("b", []byte("y")); err != nil || string(got) != "echo:y" {
		t.Fatalf("after the callback panicked: %q %v", got, err)
	}

	if err := a.Delete("b"); err != nil { // the Down event runs on this goroutine
		t.Fatal(err)
	}
	check(false)
	if n := a.Stats().CallbackPanics; n != 2 {
		t.Fatalf("CallbackPanics = %d, want 2", n)
	}
	if err := a.checkRunning(); err != nil {
		t.Fatalf("node after the callbacks: %v", err)
	}
	// The goroutine is an ordinary caller again once the callback is over.
	if a.own.Of(goid.ID()) != 0 {
		t.Fatal("the test goroutine is still marked as a callback")
	}
	linkNodes(t, a, b)
	if got, err := a.Dispatch("b", []byte("z")); err != nil || string(got) != "echo:z" {
		t.Fatalf("after Delete: %q %v", got, err)
	}
}

// A panicking WithAdmit callback refuses that peer and is counted; blocking
// calls inside it get ErrOnEventLoop instead of stalling the loop; the node
// keeps admitting others.
func TestAdmitCallbackGuarded(t *testing.T) {
	kSrv, kBad, kGood := newIdentity(t), newIdentity(t), newIdentity(t)
	var srv *Node
	var inside atomic.Value
	srv = startNode(t, "srv", echo, WithIdentity(kSrv), WithAdmit(func(key []byte) error {
		if string(key) == string(kBad.Public()) {
			panic("boom in admit")
		}
		_, err1 := srv.Dispatch("nobody", nil)
		var err2 error
		for _, r := range srv.DispatchAll(nil) {
			err2 = r.Err
		}
		inside.Store([2]error{err1, err2})
		return nil
	}))
	bad := startNode(t, "bad", nil, WithIdentity(kBad))
	mustErrIs(t, bad.AddRoute("srv", srv.Addr()), ErrRefused)
	st := srv.Stats()
	if st.CallbackPanics != 1 || st.Unadmitted != 1 {
		t.Fatalf("CallbackPanics = %d, Unadmitted = %d; want 1, 1", st.CallbackPanics, st.Unadmitted)
	}

	good := startNode(t, "good", nil, WithIdentity(kGood))
	linkNodes(t, good, srv)
	if got, err := good.Dispatch("srv", []byte("x")); err != nil || string(got) != "echo:x" {
		t.Fatalf("admitted peer: %q %v", got, err)
	}
	errs, _ := inside.Load().([2]error)
	for i, err := range errs {
		if !errors.Is(err, ErrOnEventLoop) {
			t.Fatalf("blocking call %d inside admit = %v, want ErrOnEventLoop", i, err)
		}
	}
}
