//go:build linux

package acceptor

import (
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/internal/testkit"
)

// fdOf runs f with c's descriptor.
func fdOf(t *testing.T, c *net.TCPConn, f func(fd int)) {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Control(func(fd uintptr) { f(int(fd)) }); err != nil {
		t.Fatal(err)
	}
}

// run starts l.Run and returns what closes when it returns.
func run(l *Loop) <-chan struct{} {
	done := make(chan struct{})
	go func() { l.Run(); close(done) }()
	return done
}

// dial connects to ln n times, calling each with the socket after each
// connect; the sockets are closed at cleanup.
func dial(t *testing.T, ln net.Listener, n int, each func(c net.Conn)) {
	t.Helper()
	for range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		each(c)
	}
}

// A loop hands every accepted socket to Serve and returns once the
// listener is closed.
func TestRunServesUntilClosed(t *testing.T) {
	ln, err := Listen("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *net.TCPConn, 3)
	l := &Loop{Listener: ln, Serve: func(c *net.TCPConn) error { got <- c; return nil },
		Running: func() bool { return true }, Closing: make(chan struct{}),
		Failed: func() { t.Error("an accept failed") }, Log: slog.New(slog.DiscardHandler)}
	done := run(l)
	dial(t, ln, 3, func(c net.Conn) {
		a := <-got
		if a.RemoteAddr().String() != c.LocalAddr().String() {
			t.Fatalf("served %v, dialed from %v", a.RemoteAddr(), c.LocalAddr())
		}
		a.Close()
	})
	_ = ln.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after the listener closed")
	}
}

// A Serve error is counted and backs off; errors in a row log one line a
// second, and closing ends the back-off at once, before another accept.
func TestErrorsBackOffLogOnceAndCloseEndsTheWait(t *testing.T) {
	ln, err := Listen("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var logs testkit.Buffer
	var failed atomic.Int32
	closing := make(chan struct{})
	served := make(chan struct{}, 8)
	release := make(chan struct{})
	serve := func(c *net.TCPConn) error {
		c.Close()
		served <- struct{}{}
		if failed.Load() == 2 {
			<-release // the third error: the test closes before it returns
		}
		return errors.New("accept4: too many open files")
	}
	l := &Loop{Listener: ln, Serve: serve, Running: func() bool { return true }, Closing: closing,
		Failed: func() { failed.Add(1) }, Log: slog.New(slog.NewTextHandler(&logs, nil))}
	done := run(l)
	dial(t, ln, 3, func(net.Conn) { <-served })
	close(closing)
	close(release)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("closing did not end the back-off")
	}
	if failed.Load() != 3 {
		t.Fatalf("Failed %d times, want 3", failed.Load())
	}
	if lines := strings.Count(logs.String(), "accept failed"); lines != 1 {
		t.Fatalf("%d log lines for 3 errors within a second, want 1:\n%s", lines, logs.String())
	}
	if !strings.Contains(logs.String(), "too many open files") || !strings.Contains(logs.String(), "retry_in=5ms") {
		t.Fatalf("log line without the error or the back-off: %s", logs.String())
	}
}

// An accepted socket has no keepalive until SetKeepalive gives it Go's
// default; Peek sees its bytes without taking them.
func TestKeepaliveAndPeek(t *testing.T) {
	ln, err := Listen("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a, err := ln.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	fdOf(t, a, func(fd int) {
		if on := keepalive(t, fd); on {
			t.Fatal("accepted socket has keepalive on")
		}
		if k := Peek(fd, make([]byte, 16)); k != -1 {
			t.Fatalf("Peek of an empty socket: %d, want -1", k)
		}
		SetKeepalive(fd)
		if on := keepalive(t, fd); !on {
			t.Fatal("SetKeepalive left keepalive off")
		}
		if idle := keepaliveIdle(t, fd); idle != KeepaliveIdle {
			t.Fatalf("keepalive idle %d s, want %d", idle, KeepaliveIdle)
		}
	})
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	testkit.Eventually(t, 5*time.Second, "the bytes to arrive", func() bool {
		k := 0
		fdOf(t, a, func(fd int) { k = Peek(fd, buf) })
		return k == 5
	})
	got := make([]byte, 16)
	if k, err := a.Read(got); err != nil || string(got[:k]) != "hello" || string(buf[:5]) != "hello" {
		t.Fatalf("after Peek %q, Read got %q, %v; want hello both", buf[:5], got[:k], err)
	}
}
