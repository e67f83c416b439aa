//go:build !linux

package acceptor

import (
	"net"

	"golang.org/x/sys/unix"
)

// DeferAccept is Linux's TCP_DEFER_ACCEPT; elsewhere accepts do not wait
// for the first bytes, and a peek sees what is there by the time it
// looks.
func DeferAccept(*net.TCPListener) {}

// Peek copies what fd's receive buffer holds into b without taking it and
// without waiting, and returns its length (-1 on an error).
func Peek(fd int, b []byte) int {
	n, _, err := unix.Recvfrom(fd, b, unix.MSG_PEEK|unix.MSG_DONTWAIT)
	if err != nil {
		return -1
	}
	return n
}
