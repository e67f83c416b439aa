//go:build !linux

package engine

import (
	"net"

	"golang.org/x/sys/unix"
)

// deferAccept is Linux's TCP_DEFER_ACCEPT; elsewhere accepts do not wait
// for the first bytes, and serveShort serves the sockets whose bytes are
// there by the time it looks.
func deferAccept(*net.TCPListener) {}

// peek copies what fd's receive buffer holds into b without taking it and
// without waiting.
func peek(fd int, b []byte) int {
	n, _, err := unix.Recvfrom(fd, b, unix.MSG_PEEK|unix.MSG_DONTWAIT)
	if err != nil {
		return -1
	}
	return n
}
