package intake

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/internal/testkit"
)

var errClosed = errors.New("closed")

// enrolled records what an intake enrolled: the test's reactor.
type enrolled struct {
	mu    sync.Mutex
	conns map[string]net.Conn // by P
}

func (e *enrolled) enroll(c net.Conn, p string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.conns[p] = c
	return nil
}

func (e *enrolled) get(p string) net.Conn {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.conns[p]
}

// newIntake returns an opened intake enrolling into e, its errors wrapped
// with P, and a loopback listener to dial. Both are closed at cleanup.
func newIntake(t *testing.T) (*Intake[string], *enrolled, net.Listener) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &enrolled{conns: map[string]net.Conn{}}
	in := &Intake[string]{
		Dialer: net.Dialer{Timeout: time.Second},
		Enroll: e.enroll,
		Wrap:   func(p string, err error) error { return fmt.Errorf("dial %s: %w", p, err) },
		Closed: errClosed,
	}
	in.Open()
	t.Cleanup(func() {
		in.Close()
		_ = ln.Close()
		for _, c := range e.conns {
			_ = c.Close()
		}
	})
	return in, e, ln
}

// A non-blocking dial to a listener is enrolled with its P once polled
// done, and the enrolled socket is the one the listener accepted.
func TestDialEnrollsWithItsP(t *testing.T) {
	in, e, ln := newIntake(t)
	d, err := in.Start(ln.Addr().String(), time.Second, "peer-a")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Wait(context.Background()); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	c := e.get("peer-a")
	if c == nil {
		t.Fatal("the connected socket was not enrolled with its P")
	}
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.RemoteAddr().String() != c.LocalAddr().String() {
		t.Fatalf("enrolled %v, the listener accepted %v", c.LocalAddr(), a.RemoteAddr())
	}
	if done, err := d.Poll(); !done || err != nil {
		t.Fatalf("Poll after done: %v, %v; want true, nil", done, err)
	}
}

// A refused connect is reported through Wrap, and enrolls nothing.
func TestRefusedDialIsWrapped(t *testing.T) {
	in, e, _ := newIntake(t)
	addr := testkit.FreeAddr(t) // nothing listens there
	d, err := in.Start(addr, time.Second, "peer-b")
	if err != nil {
		t.Fatal(err)
	}
	err = d.Wait(context.Background())
	var oe *net.OpError
	if err == nil || !errors.As(err, &oe) || err.Error()[:11] != "dial peer-b" {
		t.Fatalf("Wait: %v; want dial peer-b: *net.OpError", err)
	}
	if e.get("peer-b") != nil {
		t.Fatal("a refused dial enrolled something")
	}
}

// Close aborts the connects in progress (Wrap of ErrAborted), closes the
// way in for new dials and enrolls (Closed), and cancels blocking dials.
func TestCloseAbortsAndRefuses(t *testing.T) {
	in, e, ln := newIntake(t)
	d, err := in.Start(ln.Addr().String(), time.Second, "peer-c")
	if err != nil {
		t.Fatal(err)
	}
	in.Close()
	if done, err := d.Poll(); !done || !errors.Is(err, ErrAborted) {
		t.Fatalf("Poll after Close: %v, %v; want done, ErrAborted", done, err)
	}
	if e.get("peer-c") != nil {
		t.Fatal("an aborted dial enrolled its socket")
	}
	if _, err := in.Start(ln.Addr().String(), time.Second, "peer-d"); !errors.Is(err, errClosed) {
		t.Fatalf("Start after Close: %v; want Closed", err)
	}
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Add(c, "peer-e"); !errors.Is(err, errClosed) || e.get("peer-e") != nil {
		t.Fatalf("Add after Close: %v; want Closed and nothing enrolled", err)
	}
	if _, err := c.Write([]byte{1}); err == nil {
		t.Fatal("Add after Close left the socket open")
	}
	if _, err := in.Connect(context.Background(), ln.Addr().String()); !errors.Is(err, context.Canceled) {
		t.Fatalf("Connect after Close: %v; want context.Canceled", err)
	}
	if in.Context().Err() == nil {
		t.Fatal("Context not cancelled by Close")
	}
}

// Wait ends when the enrolls in progress return, or reports one stuck
// past its bound.
func TestWaitForEnrollsInProgress(t *testing.T) {
	in, _, ln := newIntake(t)
	entered, release := make(chan struct{}), make(chan struct{})
	in.Enroll = func(c net.Conn, p string) error {
		close(entered)
		<-release
		return c.Close()
	}
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	added := make(chan error, 1)
	go func() { added <- in.Add(c, "slow") }()
	<-entered
	in.Close()
	if err := in.Wait(20 * time.Millisecond); !errors.Is(err, ErrEnrollStuck) {
		t.Fatalf("Wait with an enroll stuck: %v; want ErrEnrollStuck", err)
	}
	close(release)
	if err := in.Wait(0); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if err := <-added; err != nil {
		t.Fatalf("Add: %v", err)
	}
}

// Background dials are polled by PollBackground until done: a failure goes
// to failed, a success is enrolled, and pending says whether any is left.
func TestBackgroundDials(t *testing.T) {
	in, e, ln := newIntake(t)
	var mu sync.Mutex
	failed := map[string]error{}
	fail := func(p string, err error) { mu.Lock(); failed[p] = err; mu.Unlock() }
	good, err := in.Start(ln.Addr().String(), time.Second, "good")
	if err != nil {
		t.Fatal(err)
	}
	bad, err := in.Start(testkit.FreeAddr(t), time.Second, "bad")
	if err != nil {
		t.Fatal(err)
	}
	in.Background(good, false, fail)
	in.Background(bad, false, fail)
	testkit.Eventually(t, 5*time.Second, "background dials done", func() bool {
		return !in.PollBackground(fail)
	})
	mu.Lock()
	defer mu.Unlock()
	if e.get("good") == nil || failed["good"] != nil {
		t.Fatalf("good dial: enrolled %v, failed %v", e.get("good") != nil, failed["good"])
	}
	if failed["bad"] == nil || e.get("bad") != nil {
		t.Fatalf("bad dial: failed %v, enrolled %v", failed["bad"], e.get("bad") != nil)
	}
}
