package acceptor

import (
	"testing"

	"golang.org/x/sys/unix"
)

func keepalive(t *testing.T, fd int) bool {
	t.Helper()
	on, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE)
	if err != nil {
		t.Fatal(err)
	}
	return on != 0
}

func keepaliveIdle(t *testing.T, fd int) int {
	t.Helper()
	idle, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE)
	if err != nil {
		t.Fatal(err)
	}
	return idle
}

// Listen with deferAccept sets TCP_DEFER_ACCEPT on the listener; without,
// it is off.
func TestListenDefersAccepts(t *testing.T) {
	for _, deferred := range []bool{false, true} {
		ln, err := Listen("127.0.0.1:0", deferred)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := ln.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var v int
		_ = rc.Control(func(fd uintptr) {
			v, err = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT)
		})
		ln.Close()
		if err != nil || (v != 0) != deferred {
			t.Fatalf("Listen(deferAccept %v): TCP_DEFER_ACCEPT %d, %v", deferred, v, err)
		}
	}
}
