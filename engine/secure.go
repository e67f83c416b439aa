package engine

import (
	"fmt"
	"log/slog"

	"github.com/panjf2000/gnet/v2"
	"github.com/valyala/bytebufferpool"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/proto"
	"github.com/antnet-p2p/antnet/secure"
)

// Secure links (WithIdentity). Before hello, the dialer and the acceptor run
// Noise XX in KindSecure frames, in the clear:
//
//	dialer -> acceptor   secure(-> e, cipher list)
//	acceptor -> dialer   secure(<- e, ee, s, es), flags = the cipher it chose
//	dialer -> acceptor   secure(-> s, se), then hello, sealed
//
// The suite is AES-GCM when both ends have AES hardware, ChaChaPoly
// otherwise (package secure negotiates it).
//
// From then on every frame's payload is sealed with the direction's key, the
// header as associated data. Nonces must follow wire order: frames are
// sealed under the link's lock, by a sender as it queues a frame or by the
// event loop as it takes the queue and seals its own answers after it (see
// sealBatch). A plain node that receives a secure message, or a secure
// node that receives a plain hello, answers with an error frame saying why
// and closes: both ends get a clear error.

const (
	msgNeedSecure = "this node requires secure links (Noise XX)"
	msgPlainOnly  = "this node does not speak secure links"
)

// startSecure begins the dialer's handshake and returns its first message as
// a frame. Loop, in OnOpen.
func (n *Node) startSecure(pc *peerConn) ([]byte, error) {
	hs, err := secure.NewHandshakeCiphers(n.cfg.identity, true, n.ciphers())
	if err != nil {
		return nil, err
	}
	msg, err := hs.Start()
	if err != nil {
		return nil, err
	}
	pc.hs = hs
	return codec.Append(nil, codec.Frame{Kind: codec.KindSecure, Payload: msg}), nil
}

// secureFrame handles a frame on a link whose Noise handshake is not done.
// Loop.
func (n *Node) secureFrame(pc *peerConn, f *codec.Frame, w *bytebufferpool.ByteBuffer) gnet.Action {
	if n.cfg.identity == nil {
		// We are plain; the peer wants a secure link.
		w.B = appendError(w.B, 0, proto.CodeUnsupported, msgPlainOnly)
		return n.mismatch(pc, "the peer asked for a secure link; this node is plain (no WithIdentity)")
	}
	switch f.Kind {
	case codec.KindSecure:
	case codec.KindHello:
		w.B = appendError(w.B, 0, proto.CodeUnsupported, msgNeedSecure)
		return n.mismatch(pc, "a plain peer said hello; this node requires secure links (WithIdentity)")
	case codec.KindError:
		if pc.outbound {
			re := proto.ParseError(pc.peer, f.Payload)
			pc.hsErr = fmt.Errorf("%w: %s", ErrRefused, re.Message)
			return n.violation(pc, pc.hsErr)
		}
		fallthrough
	default:
		return n.violation(pc, fmt.Errorf("%w: %s before the secure handshake", ErrHandshake, f.Kind))
	}
	if pc.hs == nil {
		if pc.outbound {
			return n.violation(pc, fmt.Errorf("%w: unexpected secure message", ErrHandshake))
		}
		hs, err := secure.NewHandshakeCiphers(n.cfg.identity, false, n.ciphers())
		if err != nil {
			return n.violation(pc, err)
		}
		pc.hs = hs
	}
	reply, sess, err := pc.hs.Read(secure.Cipher(f.Flags), f.Payload)
	if err != nil {
		pc.hsErr = fmt.Errorf("%w: %w", ErrHandshake, err)
		return n.violation(pc, pc.hsErr)
	}
	if reply != nil {
		// Handshake messages go out in the clear, ahead of anything sealed;
		// the acceptor's names the cipher it chose.
		var flags uint8
		if !pc.outbound {
			flags = uint8(pc.hs.Cipher())
		}
		_, _ = pc.c.Write(codec.Append(nil, codec.Frame{Kind: codec.KindSecure, Flags: flags, Payload: reply}))
	}
	if sess == nil {
		return gnet.None
	}
	pc.hs = nil
	pc.sess = sess
	pc.peerKey = string(sess.Peer)
	n.log.Debug("secure link", "remote", pc.remote(), "cipher", sess.Cipher)
	if admit := n.cfg.admit; admit != nil {
		var err error
		if p := n.runCallback("admit", ranAdmit, func() { err = admit(sess.Peer) }); p != nil {
			err = fmt.Errorf("admission callback panicked: %v", p)
		}
		if err != nil {
			n.stats.unadmitted.Add(1)
			err = fmt.Errorf("%w: key %s: %w", ErrNotAdmitted, proto.PeerID{Key: pc.peerKey}.Fingerprint(), err)
			n.logClosed(pc, slog.LevelInfo, err)
			pc.hsErr = err
			pc.fail(err)
			if !pc.outbound {
				w.B = appendError(w.B, 0, proto.CodeUnsupported, "key not admitted") // sealed: only that peer reads it
			}
			return gnet.Close
		}
	}
	sess.Peer = nil // the link keeps the key as peerKey: a second copy is 32 bytes a link
	if pc.outbound {
		if err := n.checkPin(pc.peer.Addr, pc.peerKey); err != nil {
			// Another key answers at a pinned address: say nothing more.
			n.logClosed(pc, slog.LevelWarn, err)
			pc.hsErr = err
			pc.fail(err)
			return gnet.Close
		}
		// Now hello, sealed, and whatever short mode queued behind it.
		w.B = n.appendHello(w.B, codec.KindHello, pc.short)
	}
	return gnet.None
}

// ciphers returns the suites this node's handshakes run, best first.
func (n *Node) ciphers() []secure.Cipher {
	if n.cfg.ciphers != nil {
		return n.cfg.ciphers
	}
	return secure.DefaultCiphers()
}

// sealOverhead is what sealing adds to every frame on this node's links.
func (n *Node) sealOverhead() int {
	if n.cfg.identity != nil {
		return secure.Overhead
	}
	return 0
}

// checkSize refuses a payload whose frame, sealed if the node's links are,
// would exceed the max frame size: the peer would close the link on it.
func (n *Node) checkSize(payload int) error {
	if size := codec.HeaderSize + payload + n.sealOverhead(); size > n.cfg.maxFrame {
		return &codec.SizeError{Size: uint64(size), Max: n.cfg.maxFrame}
	}
	return nil
}

// mismatch closes a link whose other end disagrees about security.
func (n *Node) mismatch(pc *peerConn, what string) gnet.Action {
	n.stats.protocolErrors.Add(1)
	what = "secure/plain mismatch: " + what
	if !pc.outbound {
		n.refused(slog.LevelWarn, pc.remote(), what)
	} else if n.logRemote(slog.LevelWarn) {
		n.log.Warn("closing connection", "remote", pc.remote(), "err", what)
	}
	err := fmt.Errorf("%w: %s", ErrRefused, what)
	if pc.outbound {
		pc.hsErr = err
	}
	pc.fail(err)
	return gnet.Close
}

// sealBatch returns what the loop writes on a secure link, in the loop's
// buffer sealed: the queue and w's frames, sealed in wire order. Until the
// hello exchange is done the queue holds frames in the clear, sealed after
// w's (hello and hello-ack go first); from then on senders seal as they
// queue (pc.sealer), so the queue, sealed already, goes before w's frames,
// sealed now. Loop.
func (n *Node) sealBatch(pc *peerConn, w, sealed *bytebufferpool.ByteBuffer) *bytebufferpool.ByteBuffer {
	sealed.B = sealed.B[:0]
	var err error
	pc.mu.Lock()
	out := pc.takeOutLocked()
	if pc.sealer == nil {
		sealed.B, err = pc.sess.SealFrames(sealed.B, w.B)
		if out != nil && err == nil {
			sealed.B, err = pc.sess.SealFrames(sealed.B, out.B)
		}
		if pc.state.Load() != stateHandshake {
			// Hello and hello-ack are out: from now on the queue may go
			// ahead of the loop's answers. (A goaway queued as the link
			// attaches must follow the hello-ack.)
			pc.sealer = pc.sess
		}
	} else if out != nil {
		// w's frames go after the queue, in the queue's buffer, which the
		// loop keeps in place of its own (the pool gets that): the queue
		// is not copied.
		out.B, err = pc.sess.SealFrames(out.B, w.B)
		sealed.B, out.B = out.B, sealed.B[:0]
	} else {
		sealed.B, err = pc.sess.SealFrames(sealed.B, w.B)
	}
	pc.mu.Unlock()
	if out != nil {
		n.outPool.Put(out)
	}
	if err != nil {
		n.log.Error("seal failed", "remote", pc.remote(), "err", err)
		sealed.B = sealed.B[:0]
	}
	return sealed
}
