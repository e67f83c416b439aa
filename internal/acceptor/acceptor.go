// Package acceptor is a node's listening socket and its accept goroutine,
// without gnet: gnet's own accept path would stop the whole engine on
// EMFILE, so the node accepts itself and hands each socket on. An accept
// error (out of descriptors, say) costs a count, a back-off and at most one
// log line a second, never the existing links. It also holds the socket
// options of accepted sockets: no TCP keepalive by default (a short-mode
// socket lives one exchange, and Go's four setsockopt calls per accept
// were a tenth of its cost), Go's default keepalive for the ones that turn
// out persistent, TCP_DEFER_ACCEPT, and a non-blocking peek at what an
// accepted socket already holds.
package acceptor

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// Accept back-off after an error: 5 ms doubling to 1 s, as net/http does.
const (
	RetryMin = 5 * time.Millisecond
	RetryMax = time.Second
)

// Listen binds addr with no TCP keepalive on the accepted sockets (see
// SetKeepalive); with deferAccept their accepts wait for the peer's first
// bytes (DeferAccept).
func Listen(addr string, deferAccept bool) (*net.TCPListener, error) {
	lc := net.ListenConfig{KeepAlive: -1}
	l, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, err
	}
	ln := l.(*net.TCPListener)
	if deferAccept {
		DeferAccept(ln)
	}
	return ln, nil
}

// Loop is one listener's accept goroutine (Run). Set every field first.
type Loop struct {
	Listener *net.TCPListener
	// Serve takes an accepted socket (refuse, serve or enroll it); an
	// error means the node is short of something (descriptors): back off.
	Serve func(c *net.TCPConn) error
	// Running reports whether the owner still runs: an error once it
	// does not ends Run.
	Running func() bool
	// Closing ends a back-off (and Run) when closed.
	Closing <-chan struct{}
	// Failed counts an accept or Serve error.
	Failed func()
	Log    *slog.Logger
}

// Run accepts until the listener is closed or the owner stops: each
// socket goes to Serve; after an error it waits RetryMin, doubling to
// RetryMax while errors follow each other, and logs at most one line a
// second (with the count of those not logged). Blocks: the accept
// goroutine.
func (l *Loop) Run() {
	var (
		delay   time.Duration
		lastLog time.Time
		quiet   uint64 // errors not logged since lastLog
	)
	for {
		c, err := l.Listener.AcceptTCP()
		if err == nil {
			err = l.Serve(c)
		}
		if err == nil {
			delay = 0
			continue
		}
		if errors.Is(err, net.ErrClosed) || !l.Running() {
			return
		}
		l.Failed()
		delay = min(max(2*delay, RetryMin), RetryMax)
		if now := time.Now(); now.Sub(lastLog) >= time.Second {
			l.Log.Warn("accept failed; existing links unaffected", "err", err, "retry_in", delay, "more_errors", quiet)
			lastLog, quiet = now, 0
		} else {
			quiet++
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-l.Closing:
			t.Stop()
			return
		}
	}
}

// Go's default TCP keepalive, which SetKeepalive gives an accepted socket.
const (
	KeepaliveIdle     = 15 // seconds
	KeepaliveInterval = 15 // seconds
	KeepaliveCount    = 9
)

// SetKeepalive turns TCP keepalive on for an accepted socket that turned
// out persistent, with Go's default settings: what Go gives every dialed
// socket. Four setsockopt calls.
func SetKeepalive(fd int) {
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, KeepaliveIdle)
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, KeepaliveInterval)
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPCNT, KeepaliveCount)
}
