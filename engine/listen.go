package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"golang.org/x/sys/unix"

	"github.com/antnet-p2p/antnet/internal/acceptor"

	"github.com/antnet-p2p/antnet/proto"
)

// The reactor and the listener. The node runs gnet as a client (event loops
// and a ticker, no listener of gnet's own) and owns its listener: one accept
// goroutine per node (internal/acceptor: the accept loop, its back-off after
// an error, the listener's socket options) applies the connection limits
// and enrolls each socket on the least-loaded loop, or serves a whole short
// request itself (shortserve.go).
//
// Every loop also carries a canary: one end of a socket pair that never
// carries traffic. A loop that exits closes its connections, the canary with
// them; a canary closed while the node runs means the reactor died, and the
// node closes itself (every call then fails with ErrClosed).

// acceptLoop is the node's accept goroutine.
func (n *Node) acceptLoop() {
	defer close(n.reactor.acceptDone)
	defer n.own.loop()() // short requests' handlers may run here: blocking calls are refused as on a loop
	l := acceptor.Loop{
		Listener: n.reactor.ln,
		Serve:    n.admitAccepted,
		Running:  func() bool { return n.life.state.Load() == nodeRunning },
		Closing:  n.life.closing,
		Failed:   func() { n.stats.AcceptErrors.Add(1) },
		Log:      n.log,
	}
	l.Run()
}

// admitAccepted refuses c if the node is full, serves it if it carries a
// whole short request, or enrolls it on a loop. An error means the node is short of something (descriptors): back off.
func (n *Node) admitAccepted(c *net.TCPConn) error {
	if why := n.overLimit(); why != "" {
		n.stats.Refused.Add(1)
		if n.peerLog.Allow(slog.LevelInfo) {
			n.log.Info("refused connection", "remote", c.RemoteAddr().String(), "reason", why)
		}
		refuseConn(c, why)
		return nil
	}
	if served, err := n.serveShort(c); served {
		return err // served by this goroutine, or handed to a loop: shortserve.go
	}
	if err := n.dials.Add(c, nil); err != nil && !errors.Is(err, ErrClosed) {
		return err
	}
	return nil
}

// overLimit names the cap (connections, pending handshakes) an accepted
// socket would pass, or "": the accept goroutine's early check before the
// enroll, and refusalReason's on the loop. It reads the counters but takes
// no slot.
func (n *Node) overLimit() string {
	if max := n.cfg.MaxConns; max > 0 && n.stats.Conns.Load() >= int64(max) {
		return msgMaxConns
	}
	if max := n.cfg.MaxHandshakes; max > 0 && n.stats.Handshaking.Load() >= int64(max) {
		return msgMaxHandshakes
	}
	return ""
}

// refuseConn answers a socket the node will not serve with an error frame
// (id 0, code unsupported, the reason) and closes it. The frame fits in an
// empty socket buffer: the write does not wait.
func refuseConn(c *net.TCPConn, why string) {
	_ = c.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
	_, _ = c.Write(appendError(nil, 0, proto.CodeUnsupported, why))
	_ = c.Close()
}

// setPeerSocket applies the per-socket options every persistent peer socket
// carries, accepted and dialed alike (a dialed one in OnOpen, an accepted one
// once its hello says persistent): TCP_USER_TIMEOUT at the dead-peer
// timeout, so that data a black-holed peer never acknowledges fails the
// connection in bounded time. Short-mode sockets live one exchange, bounded
// by the request timeout: they go without. Loop.
func (c *settings) setPeerSocket(fd int) {
	if d := c.DeadPeer; d > 0 {
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(d.Milliseconds()))
	}
}

// stopIntake ends every way in: no enroll from now on, blocking dials
// cancelled, non-blocking ones aborted, the listener closed. It waits for
// the accept goroutine and, up to wait (0: no bound), for enrolls in
// progress.
func (n *Node) stopIntake(wait time.Duration) {
	n.dials.Close()
	_ = n.reactor.ln.Close()
	<-n.reactor.acceptDone
	if n.dials.Wait(wait) != nil {
		n.log.Error("an enroll on a stopped loop never returned")
	}
}

// stopReactor stops the loops and the ticker (once) and closes the canaries.
func (n *Node) stopReactor() {
	n.life.stopOnce.Do(func() {
		if err := n.reactor.cli.Stop(); err != nil {
			n.log.Debug("reactor stop", "err", err)
		}
		n.reactor.canaries.Close()
	})
}

// loopCanary is the context of a loop's canary conn.
type loopCanary struct{}

// addCanaries puts one canary on each loop (internal/canary): the
// least-connections balancer gives each new one to a loop that has none yet.
func (n *Node) addCanaries() error {
	for range n.cfg.Loops {
		c, err := n.reactor.canaries.Add()
		if err != nil {
			return err
		}
		if _, err := n.reactor.cli.EnrollContext(c, loopCanary{}); err != nil {
			return err
		}
	}
	return nil
}

// reactorDied runs when a canary closes: its loop has exited. If the node
// was running, it closes: the rest of the reactor is stopped, every link
// fails (a PeerEvent Down for each peer), every call gets ErrClosed. Loop
// (the dying one): the work is done on a goroutine of its own.
func (n *Node) reactorDied(err error) {
	if !n.life.state.CompareAndSwap(nodeRunning, nodeClosing) {
		return
	}
	if err == nil {
		err = errors.New("event loop exited")
	}
	n.log.Error("reactor stopped by itself: node closed", "err", err)
	close(n.life.closing)
	go func() {
		n.stopIntake(time.Second)
		n.conns.Range(func(pc *peerConn) bool {
			pc.fail(fmt.Errorf("%w: reactor stopped: %v", ErrClosed, err))
			return true
		})
		n.stopReactor()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if n.workers.Stop(ctx, workerExitGrace) {
			n.log.Warn(busyWorkerMsg)
		}
		cancel()
		n.life.state.Store(nodeClosed)
		close(n.life.stopped)
	}()
}
