package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Dialing. Every dial is bounded by WithDialTimeout and leaves nothing behind
// when it fails or is given up. Callers that may block (AddRoute's connect,
// short-mode Send and secure Dispatch) dial in their own goroutine with dial
// (a plain short-mode Dispatch with shortDial, and never enrolls); the
// ticker (redials), DispatchAll and broadcasts start a non-blocking connect
// with dialAsync and poll it. Either way the connected socket is enrolled on
// the reactor in the caller's goroutine (see enroll), never from an event
// loop. Close cancels blocking dials and aborts the others.

// dial connects to pc.peer.Addr in the caller's goroutine, bounded by the
// dial timeout, ctx and the node's closing, and enrolls the socket with pc
// as its context. Errors wrap ErrDial (plus ErrTimeout for a timeout), or
// ErrClosed. Not on an event loop.
func (n *Node) dial(ctx context.Context, pc *peerConn) error {
	if ctx.Done() == nil {
		ctx = n.dials.ctx
	} else {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(n.dials.ctx, cancel)()
	}
	c, err := n.dials.dialer.DialContext(ctx, "tcp", pc.peer.Addr)
	if err != nil {
		return n.dialError(pc, err)
	}
	if err := n.enroll(c, pc); err != nil {
		return n.dialError(pc, err)
	}
	return nil
}

// connectFirst is the node's Dialer.ControlContext: it starts the
// non-blocking connect itself, so that Go's own connect, which follows, is
// the second call. Linux answers the first connect on a fresh socket with
// EINPROGRESS even when the handshake completed during the call, as it
// always does over loopback and often on a LAN; Go then parks the dialing
// goroutine until the runtime's poller reports the socket writable. The
// second connect returns at once with the outcome (0 once established,
// ECONNREFUSED, ...), and Go waits on the poller only while it answers
// EALREADY. One cheap syscall more per dial; the round trip through the
// poller saved cost a short-mode request about a third of its time here
// (docs/BENCHMARKS.md). Addresses it cannot turn into a sockaddr without a
// lookup (an IPv6 zone) are left to Go alone.
func connectFirst(_ context.Context, _, address string, rc syscall.RawConn) error {
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

// dialError wraps a dial failure: ErrClosed when the node is closing,
// otherwise ErrDial, with ErrTimeout for a timeout, and the cause.
func (n *Node) dialError(pc *peerConn, err error) error {
	switch {
	case errors.Is(err, ErrClosed) || errors.Is(err, ErrDial):
		return err
	case n.life.state.Load() != nodeRunning:
		return fmt.Errorf("%w: dial %s: %w", ErrClosed, pc.peer, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%w: %s: %w: %w", ErrDial, pc.peer, ErrTimeout, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrDial, pc.peer, err)
}

// dialAttempt is a non-blocking connect in progress. Start it with dialAsync,
// then call poll until it reports done; abort gives it up. Its descriptor is
// closed by then whatever the outcome, and on success the connection is
// enrolled on the reactor with the attempt's peerConn as context.
type dialAttempt struct {
	n        *Node
	pc       *peerConn
	addr     *net.TCPAddr
	deadline time.Time

	mu  sync.Mutex
	fd  int   // -1 once finished
	err error // the outcome, once finished
}

// dialAsync starts connecting to pc.peer.Addr without waiting. The node
// tracks the attempt until it finishes, so Close can abort it. Errors wrap
// ErrDial, or are ErrClosed. Any goroutine; resolving a host name may block
// (addresses given as IPs do not).
func (n *Node) dialAsync(pc *peerConn) (*dialAttempt, error) {
	raddr, err := net.ResolveTCPAddr("tcp", pc.peer.Addr)
	if err != nil {
		return nil, n.dialError(pc, err)
	}
	family, sa := sockaddrOf(raddr)
	opErr := func(call string, err error) error {
		return n.dialError(pc, &net.OpError{Op: "dial", Net: "tcp", Addr: raddr, Err: os.NewSyscallError(call, err)})
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return nil, opErr("socket", err)
	}
	if err := unix.Connect(fd, sa); err != nil && err != unix.EINPROGRESS && err != unix.EINTR {
		_ = unix.Close(fd)
		return nil, opErr("connect", err)
	}
	a := &dialAttempt{n: n, pc: pc, addr: raddr, fd: fd, deadline: time.Now().Add(n.cfg.dialTimeout)}
	n.dials.enrollMu.Lock()
	if n.dials.enrollOff {
		n.dials.enrollMu.Unlock()
		_ = unix.Close(fd)
		return nil, ErrClosed
	}
	n.dials.attempts[a] = struct{}{}
	n.dials.enrollMu.Unlock()
	return a, nil
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

// poll checks the connect without waiting. done is false while it is in
// progress and the dial timeout has not passed; once done, err is the
// outcome (wrapping ErrDial, with ErrTimeout at the timeout), and on success
// the socket is enrolled. Enrolling waits for the loop to open the conn, so
// poll must not run on an event loop. Safe to call again after done.
func (a *dialAttempt) poll() (done bool, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fd < 0 {
		return true, a.err
	}
	pfd := []unix.PollFd{{Fd: int32(a.fd), Events: unix.POLLOUT}}
	if k, _ := unix.Poll(pfd, 0); k <= 0 {
		if time.Now().Before(a.deadline) {
			return false, nil
		}
		return true, a.finish(a.opError(os.ErrDeadlineExceeded))
	}
	soErr, err := unix.GetsockoptInt(a.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err == nil && soErr != 0 {
		err = unix.Errno(soErr)
	}
	if err != nil {
		return true, a.finish(a.opError(os.NewSyscallError("connect", err)))
	}
	f := os.NewFile(uintptr(a.fd), "")
	c, err := net.FileConn(f)
	_ = f.Close()
	a.fd = -1
	a.n.untrack(a)
	if err == nil {
		err = a.n.enroll(c, a.pc)
	}
	if err != nil {
		a.err = a.n.dialError(a.pc, err)
	}
	return true, a.err
}

func (a *dialAttempt) opError(err error) error {
	return a.n.dialError(a.pc, &net.OpError{Op: "dial", Net: "tcp", Addr: a.addr, Err: err})
}

// wait polls until the attempt is done or ctx ends (then it aborts it),
// sleeping in poll(2) between checks. Blocks; not on an event loop.
func (a *dialAttempt) wait(ctx context.Context) error {
	for {
		done, err := a.poll()
		if done {
			return err
		}
		select {
		case <-ctx.Done():
			a.abort()
			return a.n.dialError(a.pc, ctx.Err())
		default:
		}
		a.mu.Lock()
		fd := a.fd
		a.mu.Unlock()
		if fd >= 0 { // a descriptor closed meanwhile only ends this sleep early
			_, _ = unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}, 10)
		}
	}
}

// abort gives the attempt up and closes its descriptor; a no-op once done.
func (a *dialAttempt) abort() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fd >= 0 {
		a.finish(fmt.Errorf("%w: dial %s given up", ErrClosed, a.pc.peer))
	}
}

// finish closes the descriptor and records err. Under mu.
func (a *dialAttempt) finish(err error) error {
	_ = unix.Close(a.fd)
	a.fd, a.err = -1, err
	a.n.untrack(a)
	return err
}

func (n *Node) untrack(a *dialAttempt) {
	n.dials.enrollMu.Lock()
	delete(n.dials.attempts, a)
	n.dials.enrollMu.Unlock()
}

// dialInBackground completes a in the caller's goroutine if it can at once
// (not on an event loop, connect already done), else leaves it to the
// ticker. On failure the attempt's peerConn is abandoned. Never blocks
// beyond an enroll.
func (n *Node) dialInBackground(a *dialAttempt) {
	if !n.own.isLoop() {
		if done, err := a.poll(); done {
			if err != nil {
				a.pc.abandon(err)
			}
			return
		}
	}
	n.dials.enrollMu.Lock()
	n.dials.orphans = append(n.dials.orphans, a)
	n.dials.enrollMu.Unlock()
}

// pollOrphans advances the background dials. Ticker.
func (n *Node) pollOrphans() (pending bool) {
	n.dials.enrollMu.Lock()
	list := n.dials.orphans
	n.dials.orphans = nil
	n.dials.enrollMu.Unlock()
	var left []*dialAttempt
	for _, a := range list {
		done, err := a.poll()
		switch {
		case !done:
			left = append(left, a)
		case err != nil:
			a.pc.abandon(err)
		}
	}
	if len(left) > 0 {
		n.dials.enrollMu.Lock()
		n.dials.orphans = append(n.dials.orphans, left...)
		n.dials.enrollMu.Unlock()
	}
	return len(left) > 0
}

// dialState is the node's outgoing connects: the dialer and the context
// Close cancels, the enrolls in progress, and the non-blocking connects
// the ticker polls.
type dialState struct {
	ctx    context.Context // cancelled when closing starts: aborts blocking dials
	dialer net.Dialer      // with the dial timeout
	stop   context.CancelFunc

	enrollMu  sync.Mutex
	enrollOff bool                      // closing: nothing enrolls any more
	enrolls   sync.WaitGroup            // EnrollContext calls in progress
	attempts  map[*dialAttempt]struct{} // non-blocking connects in progress
	orphans   []*dialAttempt            // async dials no caller polls: the ticker does
}
