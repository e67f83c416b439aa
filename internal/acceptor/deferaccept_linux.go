package acceptor

import (
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

// deferAcceptSeconds is how long the kernel holds back an accepted socket
// that has sent nothing: Linux rounds it to SYN-ACK retransmissions (one,
// about a second). A silent socket is accepted after that and then meets
// the handshake timeout as any other.
const deferAcceptSeconds = 1

// DeferAccept makes ln's accepts wait for the peer's first bytes
// (TCP_DEFER_ACCEPT), so the accept goroutine finds a short-mode socket's
// hello and request already there and can serve it without a loop. A
// failure leaves the listener as it was.
func DeferAccept(ln *net.TCPListener) {
	rc, err := ln.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT, deferAcceptSeconds)
	})
}

// Peek copies what fd's receive buffer holds into b without taking it and
// without waiting, and returns its length (-1 on an error); unix.Recvfrom would allocate the sender's address on
// every accept.
func Peek(fd int, b []byte) int {
	n, _, errno := unix.Syscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)),
		unix.MSG_PEEK|unix.MSG_DONTWAIT, 0, 0)
	if errno != 0 {
		return -1
	}
	return int(n)
}
