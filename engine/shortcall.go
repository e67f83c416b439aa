package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/proto"
)

// A plain short-mode request runs whole in the calling goroutine: connect
// (tcpconnect.First), hello and request in one write, read hello-ack and the
// answer, wait for the acceptor's close, close. The caller waits anyway, so
// no goroutine is added and no event loop is involved: no enroll (about
// 20 µs and 20 allocations at each end, BenchmarkEnrollCost), no hop from
// the loop that reads the answer back to the caller. The socket is counted
// in Stats.Conns (and ShortLinks once hello-ack arrived) while it is open;
// it is not in PeerStates. Secure short requests, Send and DispatchAll keep
// the loop path: the Noise handshake needs round trips, a notice's caller
// does not wait for an answer, and DispatchAll dials every peer at once
// without a goroutine per peer.
//
// The acceptor closes first (PROTOCOL.md, "Short mode"): the dialer reads
// the answer, then waits for the acceptor's FIN before it closes, so the
// TIME_WAIT stays on the acceptor and a busy dialer does not run out of
// ephemeral ports. A peer that does not close within shortCloseGrace of its
// answer is closed by the dialer.

// shortCloseGrace bounds how long a dialer waits, after the answer, for
// the acceptor to close first. An antnet acceptor closes as soon as the
// answer is flushed.
const shortCloseGrace = 250 * time.Millisecond

// shortBufs are the read buffers of caller-side short requests.
var shortBufs = sync.Pool{New: func() any { b := make([]byte, 4096); return &b }}

// maxPooledShortBuf is the largest read buffer put back in shortBufs.
const maxPooledShortBuf = 64 << 10

// longAgo is a deadline in the past: it wakes a blocked read or write.
var longAgo = time.Unix(1, 0)

// shortCall sends msg to e as a short-mode request from the calling
// goroutine and appends the answer to dst. Plain nodes only; not on an
// event loop.
func (n *Node) shortCall(ctx context.Context, e *routeEntry, msg, dst []byte, start time.Time) ([]byte, error) {
	n.stats.requests.Add(1)
	if err := n.cfg.checkSize(len(msg)); err != nil {
		return dst, fmt.Errorf("antnet: send to %s: %w", e.ID, err)
	}
	deadline := n.deadline(ctx, start)
	c, err := n.shortDial(ctx, e.ID)
	if err != nil {
		return dst, err
	}
	n.stats.conns.Add(1)
	defer n.stats.conns.Add(-1)
	// Close and the caller's context end the exchange at once.
	interrupt := func() { _ = c.SetDeadline(longAgo) }
	defer context.AfterFunc(n.dials.Context(), interrupt)()
	if ctx.Done() != nil {
		defer context.AfterFunc(ctx, interrupt)()
	}
	_ = c.SetDeadline(deadline)

	bp := shortBufs.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= maxPooledShortBuf {
			shortBufs.Put(bp)
		}
	}()
	req := n.appendHello((*bp)[:0], codec.KindHello, true)
	req = codec.AppendHeader(req, codec.KindRequest, 0, 0, 1, len(msg))
	req = append(req, msg...)
	*bp = req[:cap(req)]
	n.stats.framesOut.Add(1)
	n.stats.inflight.Add(1)
	reply, err := n.shortExchange(ctx, c, e.ID, bp, req, dst, deadline)
	n.stats.inflight.Add(-1)
	if err == nil {
		n.stats.rtt.Observe(time.Since(start))
	}
	return reply, err
}

// shortDial connects to peer in the caller's goroutine, bounded by the dial
// timeout, ctx and the node's closing. Errors wrap ErrDial (plus
// ErrTimeout), or ErrClosed.
func (n *Node) shortDial(ctx context.Context, peer proto.PeerID) (net.Conn, error) {
	c, err := n.dials.Connect(ctx, peer.Addr)
	if err != nil {
		return nil, n.dialError(&peerConn{peer: &peer}, err)
	}
	return c, nil
}

// shortExchange writes req (hello + request) on c, reads hello-ack and the
// answer, waits for the acceptor to close, and closes c. *bp is the read
// buffer (req lies in it and is written before the first read); it may be
// grown for a large answer.
func (n *Node) shortExchange(ctx context.Context, c net.Conn, peer proto.PeerID, bp *[]byte, req, dst []byte, deadline time.Time) (reply []byte, err error) {
	defer func() { _ = c.Close() }()
	if _, err := c.Write(req); err != nil {
		return dst, n.shortIOError(ctx, peer, err, deadline, "")
	}
	r := codec.StreamReader{R: c, Buf: (*bp)[:cap(*bp)]}
	defer func() { *bp = r.Buf }()
	f, err := r.Next(maxHandshakeFrame)
	if err != nil {
		return dst, n.shortIOError(ctx, peer, err, deadline, "hello-ack")
	}
	if err := n.shortAck(peer, &f); err != nil {
		return dst, err
	}
	n.stats.shortLinks.Add(1)
	defer n.stats.shortLinks.Add(-1)
	if f, err = r.Next(n.cfg.maxFrame); err != nil {
		return dst, n.shortIOError(ctx, peer, err, deadline, "answer")
	}
	n.stats.framesIn.Add(2)
	n.stats.bytesIn.Add(uint64(r.Used()))
	switch {
	case f.Kind == codec.KindResponse && f.ID == 1:
		dst = append(dst, f.Payload...)
	case f.Kind == codec.KindError && f.ID == 1:
		n.stats.remoteErrors.Add(1)
		err = proto.ParseError(peer, f.Payload)
	default:
		n.stats.protocolErrors.Add(1)
		return dst, fmt.Errorf("%w: %s on a short-mode link, want the answer to request 1", ErrProtocol, f.Kind)
	}
	if r.Buffered() == 0 { // nothing after the answer: let the acceptor close first
		if grace := time.Now().Add(shortCloseGrace); grace.Before(deadline) {
			_ = c.SetReadDeadline(grace)
		}
		_, _ = c.Read(r.Buf)
	}
	return dst, err
}

// shortAck checks the frame that opens a short exchange: hello-ack from
// the peer dialed, or its refusal.
func (n *Node) shortAck(peer proto.PeerID, f *codec.Frame) error {
	if f.Kind == codec.KindError {
		n.stats.protocolErrors.Add(1)
		re := proto.ParseError(peer, f.Payload)
		if re.Message == msgSelf {
			return fmt.Errorf("%w: %w: %s is this node", ErrProtocol, ErrSelf, peer.Addr)
		}
		return fmt.Errorf("%w: %w: %s", ErrProtocol, ErrRefused, re.Message)
	}
	var err error
	if f.Kind != codec.KindHelloAck {
		err = fmt.Errorf("%w: got %s, want %s", ErrHandshake, f.Kind, codec.KindHelloAck)
	} else {
		_, err = n.checkHelloAck(f.Payload, peer)
	}
	if err != nil {
		n.stats.protocolErrors.Add(1)
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	return nil
}

// shortIOError says why a short exchange's socket failed at step: the
// node closing (ErrClosed), the caller's context or the request deadline
// (counted in Timeouts), a frame too large or malformed (ErrProtocol), or
// the connection lost.
func (n *Node) shortIOError(ctx context.Context, peer proto.PeerID, err error, deadline time.Time, step string) error {
	if n.life.state.Load() != nodeRunning {
		return fmt.Errorf("%w: request to %s: %w", ErrClosed, peer, err)
	}
	if cerr := ctx.Err(); cerr != nil {
		n.stats.timeouts.Add(1)
		return fmt.Errorf("antnet: request to %s: %w", peer, cerr)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		n.stats.timeouts.Add(1)
		why := ErrTimeout
		if d, ok := ctx.Deadline(); ok && !d.After(deadline) {
			why = context.DeadlineExceeded // the caller's deadline, not ours
		}
		return fmt.Errorf("antnet: request to %s: %w", peer, why)
	}
	var de *codec.DecodeError
	if errors.As(err, &de) {
		n.stats.protocolErrors.Add(1)
		return fmt.Errorf("%w: %w", ErrProtocol, de.Err)
	}
	if step == "hello-ack" && errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: %w", ErrConnLost, silentClose(false, err))
	}
	return fmt.Errorf("%w: request to %s: %v", ErrConnLost, peer, err)
}
