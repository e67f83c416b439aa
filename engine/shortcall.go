package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/internal/short"
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
// ephemeral ports. A peer that does not close within short.CloseGrace of its
// answer is closed by the dialer.

// shortCall sends msg to e as a short-mode request from the calling
// goroutine and appends the answer to dst. Plain nodes only; not on an
// event loop. The socket work is internal/short's (short.Exchange); this
// is the node's side: its counters, its hello, and its errors.
func (n *Node) shortCall(ctx context.Context, e *routeEntry, msg, dst []byte, start time.Time) ([]byte, error) {
	n.stats.Requests.Add(1)
	if err := n.linkEnv.CheckSize(len(msg)); err != nil {
		return dst, fmt.Errorf("antnet: send to %s: %w", e.ID, err)
	}
	deadline := n.cfg.deadline(ctx, start)
	peer := e.ID
	c, err := n.dials.Connect(ctx, peer.Addr)
	if err != nil {
		return dst, n.dialError(&peerConn{peer: &peer}, err)
	}
	n.stats.Conns.Add(1)
	defer n.stats.Conns.Add(-1)
	acked := false
	x := short.Exchange{
		Request: func(b []byte) []byte {
			b = n.appendHello(b, codec.KindHello, true)
			b = codec.AppendHeader(b, codec.KindRequest, 0, 0, 1, len(msg))
			return append(b, msg...)
		},
		MaxAck: maxHandshakeFrame, MaxFrame: n.cfg.MaxFrame,
		Ack: func(f codec.Frame) error {
			if err := n.shortAck(peer, &f); err != nil {
				return err
			}
			acked = true
			n.stats.ShortLinks.Add(1)
			return nil
		},
		Answer: func(f codec.Frame) (bool, error) {
			switch {
			case f.Kind == codec.KindResponse && f.ID == 1:
				dst = append(dst, f.Payload...)
				return true, nil
			case f.Kind == codec.KindError && f.ID == 1:
				n.stats.RemoteErrors.Add(1)
				return true, proto.ParseError(peer, f.Payload)
			}
			n.stats.ProtocolErrors.Add(1)
			return false, fmt.Errorf("%w: %s on a short-mode link, want the answer to request 1", ErrProtocol, f.Kind)
		},
	}
	n.linkEnv.FramesOut.Add(1)
	n.linkEnv.InFlight.Add(1)
	read, err := x.Call(c, deadline, n.dials.Context(), ctx) // Close and the caller's context end it at once
	n.linkEnv.InFlight.Add(-1)
	if acked {
		n.stats.ShortLinks.Add(-1)
	}
	if read > 0 {
		n.stats.FramesIn.Add(2)
		n.stats.BytesIn.Add(uint64(read))
	}
	if err == nil {
		n.stats.RTT.Observe(time.Since(start))
		return dst, nil
	}
	if ioe := (*short.IOError)(nil); errors.As(err, &ioe) {
		return dst, n.shortIOError(ctx, peer, ioe.Err, deadline, ioe.Step)
	}
	return dst, err
}

// shortAck checks the frame that opens a short exchange: hello-ack from
// the peer dialed, or its refusal.
func (n *Node) shortAck(peer proto.PeerID, f *codec.Frame) error {
	if f.Kind == codec.KindError {
		n.stats.ProtocolErrors.Add(1)
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
		n.stats.ProtocolErrors.Add(1)
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	return nil
}

// shortIOError says why a short exchange's socket failed at step (a
// short.Step...): the node closing (ErrClosed), the caller's context or
// the request deadline (counted in Timeouts), a frame too large or
// malformed (ErrProtocol), or the connection lost.
func (n *Node) shortIOError(ctx context.Context, peer proto.PeerID, err error, deadline time.Time, step string) error {
	if n.life.state.Load() != nodeRunning {
		return fmt.Errorf("%w: request to %s: %w", ErrClosed, peer, err)
	}
	if cerr := ctx.Err(); cerr != nil {
		n.stats.Timeouts.Add(1)
		return fmt.Errorf("antnet: request to %s: %w", peer, cerr)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		n.stats.Timeouts.Add(1)
		why := ErrTimeout
		if d, ok := ctx.Deadline(); ok && !d.After(deadline) {
			why = context.DeadlineExceeded // the caller's deadline, not ours
		}
		return fmt.Errorf("antnet: request to %s: %w", peer, why)
	}
	var de *codec.DecodeError
	if errors.As(err, &de) {
		n.stats.ProtocolErrors.Add(1)
		return fmt.Errorf("%w: %w", ErrProtocol, de.Err)
	}
	if step == short.StepAck && errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: %w", ErrConnLost, silentClose(false, err))
	}
	return fmt.Errorf("%w: request to %s: %v", ErrConnLost, peer, err)
}
