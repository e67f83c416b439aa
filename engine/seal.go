package engine

import (
	"github.com/valyala/bytebufferpool"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/secure"
)

// Sealed links (WithIdentity). After the Noise handshake every frame's
// payload is sealed with the direction's key, the header as associated
// data. Nonces follow wire order: frames are sealed under the link's lock,
// by a sender as it queues or by the loop as it takes the queue and seals
// its own answers after it (sealBatch).

// suites returns the Noise suites this node's handshakes offer, best first.
func (c *config) suites() []secure.Cipher {
	if c.ciphers != nil {
		return c.ciphers
	}
	return secure.DefaultCiphers()
}

// sealOverhead is what sealing adds to every frame on this node's links.
func (c *config) sealOverhead() int {
	if c.identity != nil {
		return secure.Overhead
	}
	return 0
}

// checkSize refuses a payload whose frame, sealed if the node's links are,
// would exceed the max frame size: the peer would close the link on it.
func (c *config) checkSize(payload int) error {
	if size := codec.HeaderSize + payload + c.sealOverhead(); size > c.maxFrame {
		return &codec.SizeError{Size: uint64(size), Max: c.maxFrame}
	}
	return nil
}

// sealBatch returns, in sealed, what the loop writes on a secure link: the
// queue and w's frames in wire order. Until hello and hello-ack are out the
// queue is in the clear and goes after w; from then on senders seal as they
// queue (pc.sealing), so the queue goes first and w is sealed after. Loop.
func (pc *peerConn) sealBatch(w, sealed *bytebufferpool.ByteBuffer) *bytebufferpool.ByteBuffer {
	n := pc.n
	sealed.B = sealed.B[:0]
	var err error
	pc.mu.Lock()
	out := pc.takeOutLocked()
	if !pc.sealing {
		sealed.B, err = pc.sec.sess.SealFrames(sealed.B, w.B)
		if out != nil && err == nil {
			sealed.B, err = pc.sec.sess.SealFrames(sealed.B, out.B)
		}
		if pc.state.Load() != stateHandshake {
			// Hello and hello-ack are out: from now on the queue may go
			// ahead of the loop's answers. (A goaway queued as the link
			// attaches must follow the hello-ack.)
			pc.sealing = true
		}
	} else if out != nil {
		// w's frames go after the queue, in the queue's buffer, which the
		// loop keeps in place of its own (the pool gets that): the queue
		// is not copied.
		out.B, err = pc.sec.sess.SealFrames(out.B, w.B)
		sealed.B, out.B = out.B, sealed.B[:0]
	} else {
		sealed.B, err = pc.sec.sess.SealFrames(sealed.B, w.B)
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
