package engine

import (
	"errors"
	"net"
	"testing"
)

// A dial to a closed port fails with ErrDial in every call that dials, and
// the cause stays reachable with errors.As.
func TestDialErrorsMatchErrDial(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	_ = ln.Close()

	p := startNode(t, "p", nil)
	err = p.AddRoute("gone", closed)
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
	err = s.Send("gone", []byte("x"))
	mustErrIs(t, err, ErrDial)
	if !errors.As(err, &op) {
		t.Fatalf("short Send: %v does not wrap a *net.OpError", err)
	}
}
