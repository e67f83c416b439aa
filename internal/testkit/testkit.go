// Package testkit holds the helpers the repository's tests share: waiting
// on a condition with a deadline, free loopback ports, starting a service
// that closes at cleanup, and child processes (a binary built once per test
// process, its output read line by line).
//
// It imports no antnet package, so the engine's own tests (package engine)
// can use it: helpers that need a node take it through the small Service
// interface.
package testkit

import (
	"net"
	"strconv"
	"testing"
	"time"
)

// Every is how often Eventually polls its condition: often enough that a
// wait ends within 5ms of the event, seldom enough that polling a node's
// Stats costs nothing measurable.
const Every = 5 * time.Millisecond

// Eventually fails t unless cond holds within d; it polls cond every
// Every, in the test's goroutine (a timer sleep between two polls). what
// names the awaited condition in the failure message.
func Eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Poll(d, Every, cond) {
		t.Fatalf("timed out after %v waiting for %s", d, what)
	}
}

// Poll calls cond every period until it returns true or d has passed, and
// reports whether it held: for a caller whose failure message shows what
// the last poll saw, or who polls at another pace than Eventually's. cond
// runs in the caller's goroutine, at least once; when it never holds, its
// last call comes after the deadline.
func Poll(d, period time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(period)
	}
	return true
}

// FreePort returns a loopback TCP port nothing listened on just now (the
// kernel chose it for a listener this closed again), as text: for an
// address or a command-line flag.
func FreePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// FreeAddr is FreePort as an address, "127.0.0.1:PORT".
func FreeAddr(t testing.TB) string {
	t.Helper()
	return "127.0.0.1:" + FreePort(t)
}

// Service is what Started starts and closes: an engine.Node, or anything
// else with the same two methods.
type Service interface {
	Start() error
	Close() error
}

// Started fails t if err (the constructor's) is not nil or s does not
// start, closes s at t's cleanup, and returns s. A node built with
// n, err := engine.New(...) is started with testkit.Started(t, n, err).
func Started[S Service](t testing.TB, s S, err error) S {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}
