// Package canary makes connections that never carry traffic, to put on
// event loops: a loop that exits closes its connections, a canary with
// them, so a canary closed while its owner runs means the loop died. Each
// canary is one end of a Unix socket pair; the set keeps the other end
// open (a canary sees no EOF) until Close.
package canary

import (
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// Set is the kept ends of the canaries it made. Not safe for concurrent
// use.
type Set struct {
	kept []int // our ends of the socket pairs
}

// Add makes a canary and returns the end to put on a loop. Costs a socket
// pair: two descriptors until Close (and the loop's closing of its end).
func (s *Set) Add() (net.Conn, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socketpair", err)
	}
	f := os.NewFile(uintptr(fds[0]), "antnet-canary")
	c, err := net.FileConn(f)
	_ = f.Close()
	if err != nil {
		_ = unix.Close(fds[1])
		return nil, err
	}
	s.kept = append(s.kept, fds[1])
	return c, nil
}

// Close closes the kept ends: every canary still open sees EOF. Once.
func (s *Set) Close() {
	for _, fd := range s.kept {
		_ = unix.Close(fd)
	}
	s.kept = nil
}
