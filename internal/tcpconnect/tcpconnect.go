// Package tcpconnect starts TCP connects without waiting on Go's runtime
// poller: a hook that makes net.Dialer return as soon as the kernel has
// the answer, and a non-blocking connect a caller polls from its own
// ticker. Linux only (x/sys/unix); no goroutines.
package tcpconnect

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// First is a net.Dialer ControlContext hook that starts the non-blocking
// connect itself, so that Go's own connect, which follows, is the second
// call. Linux answers the first connect on a fresh socket with EINPROGRESS
// even when the handshake completed during the call, as it always does
// over loopback and often on a LAN; Go then parks the dialing goroutine
// until the runtime's poller reports the socket writable. The second
// connect returns at once with the outcome (0 once established,
// ECONNREFUSED, ...), and Go waits on the poller only while it answers
// EALREADY. One cheap syscall more per dial. Addresses it cannot turn into
// a sockaddr without a lookup (an IPv6 zone) are left to Go alone.
func First(_ context.Context, _, address string, rc syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || ap.Addr().Zone() != "" {
		return nil
	}
	var sa unix.Sockaddr
	if ip := ap.Addr().Unmap(); ip.Is4() {
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ip.As4()}
	} else {
		sa = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ip.As16()}
	}
	var connErr error
	if err := rc.Control(func(fd uintptr) { connErr = unix.Connect(int(fd), sa) }); err != nil {
		return err
	}
	switch connErr {
	case nil, unix.EINPROGRESS, unix.EINTR:
		return nil // Go's connect reports how it ended, or waits for it
	}
	return os.NewSyscallError("connect", connErr)
}

// Attempt is a non-blocking connect in progress. Start it with Start, then
// call Poll until it reports done; Abort gives it up. Its descriptor is
// closed (or handed to the net.Conn Poll returns) by then, whatever the
// outcome. Safe for concurrent use.
type Attempt struct {
	Addr     *net.TCPAddr
	deadline time.Time

	mu  sync.Mutex
	fd  int // -1 once finished
	err error
}

// Start starts connecting to addr without waiting; the attempt fails with
// os.ErrDeadlineExceeded if it has not connected within timeout. Errors
// are *net.OpError.
func Start(addr *net.TCPAddr, timeout time.Duration) (*Attempt, error) {
	family, sa := sockaddrOf(addr)
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return nil, opError(addr, os.NewSyscallError("socket", err))
	}
	if err := unix.Connect(fd, sa); err != nil && err != unix.EINPROGRESS && err != unix.EINTR {
		_ = unix.Close(fd)
		return nil, opError(addr, os.NewSyscallError("connect", err))
	}
	return &Attempt{Addr: addr, fd: fd, deadline: time.Now().Add(timeout)}, nil
}

// sockaddrOf converts a resolved address; no IP means this host.
func sockaddrOf(a *net.TCPAddr) (int, unix.Sockaddr) {
	if a.IP == nil || a.IP.To4() != nil {
		sa := &unix.SockaddrInet4{Port: a.Port, Addr: [4]byte{127, 0, 0, 1}}
		if ip4 := a.IP.To4(); ip4 != nil {
			copy(sa.Addr[:], ip4)
		}
		return unix.AF_INET, sa
	}
	sa := &unix.SockaddrInet6{Port: a.Port}
	copy(sa.Addr[:], a.IP.To16())
	if a.Zone != "" {
		if ifi, err := net.InterfaceByName(a.Zone); err == nil {
			sa.ZoneId = uint32(ifi.Index)
		}
	}
	return unix.AF_INET6, sa
}

func opError(addr *net.TCPAddr, err error) error {
	return &net.OpError{Op: "dial", Net: "tcp", Addr: addr, Err: err}
}

// Poll checks the connect without waiting: done is false while it is in
// progress and its timeout has not passed. Once done, c is the connection
// (err nil) or err says why not (a *net.OpError; os.ErrDeadlineExceeded
// at the timeout, ErrAborted after Abort). The connection is returned
// once; later calls report done with c nil and the same err. One poll(2)
// call while in progress.
func (a *Attempt) Poll() (c net.Conn, done bool, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fd < 0 {
		return nil, true, a.err
	}
	pfd := []unix.PollFd{{Fd: int32(a.fd), Events: unix.POLLOUT}}
	if k, _ := unix.Poll(pfd, 0); k <= 0 {
		if time.Now().Before(a.deadline) {
			return nil, false, nil
		}
		return nil, true, a.finish(opError(a.Addr, os.ErrDeadlineExceeded))
	}
	soErr, err := unix.GetsockoptInt(a.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err == nil && soErr != 0 {
		err = unix.Errno(soErr)
	}
	if err != nil {
		return nil, true, a.finish(opError(a.Addr, os.NewSyscallError("connect", err)))
	}
	f := os.NewFile(uintptr(a.fd), "")
	c, err = net.FileConn(f)
	_ = f.Close()
	a.fd = -1
	if err != nil {
		a.err = opError(a.Addr, err)
	}
	return c, true, a.err
}

// Sleep waits up to d for the connect to make progress (poll(2) on its
// descriptor); it returns at once when the attempt is finished. Blocks.
func (a *Attempt) Sleep(d time.Duration) {
	a.mu.Lock()
	fd := a.fd
	a.mu.Unlock()
	if fd >= 0 { // a descriptor closed meanwhile only ends this sleep early
		_, _ = unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}, int(d/time.Millisecond))
	}
}

// ErrAborted is an aborted attempt's error.
var ErrAborted = errors.New("tcpconnect: connect aborted")

// Abort gives the attempt up and closes its descriptor; false when it was
// finished already.
func (a *Attempt) Abort() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fd < 0 {
		return false
	}
	a.finish(ErrAborted)
	return true
}

// finish closes the descriptor and records err. Under mu.
func (a *Attempt) finish(err error) error {
	_ = unix.Close(a.fd)
	a.fd, a.err = -1, err
	return err
}
