package tcpconnect

import (
	"context"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

// poll polls a until it is done, sleeping on its descriptor between checks.
func poll(t *testing.T, a *Attempt) (net.Conn, error) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if c, done, err := a.Poll(); done {
			return c, err
		}
		a.Sleep(10 * time.Millisecond)
	}
	t.Fatal("attempt not done within 5s")
	return nil, nil
}

func listen(t *testing.T) *net.TCPListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln.(*net.TCPListener)
}

func TestAttemptConnects(t *testing.T) {
	ln := listen(t)
	a, err := Start(ln.Addr().(*net.TCPAddr), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c, err := poll(t, a)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := c.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2)
	if _, err := s.Read(buf); err != nil || string(buf) != "hi" {
		t.Fatalf("read %q, %v", buf, err)
	}
	if c2, done, err := a.Poll(); !done || c2 != nil || err != nil {
		t.Fatalf("second Poll = %v, %v, %v; want done, no conn, no error", c2, done, err)
	}
	if a.Abort() {
		t.Fatal("Abort of a finished attempt reported work")
	}
}

func TestAttemptRefused(t *testing.T) {
	ln := listen(t)
	addr := ln.Addr().(*net.TCPAddr)
	_ = ln.Close()
	a, err := Start(addr, time.Second)
	if err == nil {
		_, err = poll(t, a)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("err = %v, want a *net.OpError wrapping ECONNREFUSED", err)
	}
}

func TestAttemptAbort(t *testing.T) {
	ln := listen(t)
	a, err := Start(ln.Addr().(*net.TCPAddr), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Abort() {
		t.Fatal("Abort of a fresh attempt reported nothing to do")
	}
	if c, done, err := a.Poll(); !done || c != nil || !errors.Is(err, ErrAborted) {
		t.Fatalf("Poll after Abort = %v, %v, %v; want done with ErrAborted", c, done, err)
	}
}

// First lets net.Dialer connect and report refusals as Go's own connect does.
func TestFirstAsDialerHook(t *testing.T) {
	ln := listen(t)
	d := net.Dialer{Timeout: time.Second, ControlContext: First}
	c, err := d.DialContext(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	addr := ln.Addr().String()
	_ = ln.Close()
	if _, err := d.DialContext(context.Background(), "tcp", addr); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial to a closed port: %v, want ECONNREFUSED", err)
	}
}
