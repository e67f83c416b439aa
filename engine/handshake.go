package engine

import (
	"fmt"

	"github.com/panjf2000/gnet/v2"
	"github.com/valyala/bytebufferpool"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/proto"
	"github.com/antnet-p2p/antnet/route"
)

// appendHello appends a hello or hello-ack frame introducing this node.
func (n *Node) appendHello(dst []byte, kind codec.Kind, short bool) []byte {
	var flags uint8
	if short {
		flags = proto.FlagShort
	} else if n.speaksTrees() {
		flags = proto.FlagTrees
	}
	h := proto.Hello{ID: n.id, Nonce: n.nonce}
	size := 1 + len(h.ID.Name) + 1 + len(h.ID.Addr) + 8
	dst = codec.AppendHeader(dst, kind, flags, 0, 0, size)
	return proto.AppendHello(dst, h)
}

// speaksTrees reports whether this node offers broadcast trees on its
// persistent links (FlagTrees). Short mode floods.
func (n *Node) speaksTrees() bool { return n.cfg.mode == Persistent && !n.cfg.floodOnly }

// handshake handles a frame on a link that has not finished its hello
// exchange: the acceptor expects hello, the dialer hello-ack. Loop.
func (n *Node) handshake(pc *peerConn, f *codec.Frame, w *bytebufferpool.ByteBuffer) gnet.Action {
	want := codec.KindHello
	if pc.outbound {
		want = codec.KindHelloAck
	}
	if f.Kind == codec.KindError && pc.outbound {
		// The acceptor refused us before the handshake: say why.
		re := proto.ParseError(pc.peer, f.Payload)
		pc.hsErr = fmt.Errorf("%w: %s", ErrRefused, re.Message)
		if re.Message == msgSelf {
			pc.hsErr = fmt.Errorf("%w: %s is this node", ErrSelf, pc.peer.Addr)
		}
		return n.violation(pc, pc.hsErr)
	}
	if f.Kind != want {
		return n.violation(pc, fmt.Errorf("%w: got %s, want %s", ErrHandshake, f.Kind, want))
	}
	h, err := proto.ParseHello(f.Payload)
	pc.trees = f.Flags&proto.FlagShort == 0 && f.Flags&proto.FlagTrees != 0 && n.speaksTrees()
	if pc.outbound {
		if err == nil && !h.Listens() {
			err = fmt.Errorf("%w: hello-ack without an address", proto.ErrBadHello)
		}
		if err != nil {
			return n.violation(pc, err)
		}
		return n.helloAck(pc, h)
	}
	// Acceptor: every refusal is answered with an error frame that says why.
	if err != nil {
		return n.refuse(pc, w, err.Error(), err)
	}
	if !h.Listens() {
		// A dial-only peer: it is known by this socket's address, over this
		// link only (a learned route: never dialed, gone with the link).
		h.ID.Addr = pc.remoteAddr
		pc.dialOnly = true
	}
	if h.Nonce == n.nonce {
		return n.refuse(pc, w, msgSelf, fmt.Errorf("%w: a peer dialed itself", ErrSelf))
	}
	if h.ID.Addr == n.id.Addr {
		err := fmt.Errorf("%w: hello from %s claims this node's address", ErrSelf, h.ID)
		return n.refuse(pc, w, err.Error(), err)
	}
	if err := n.checkPin(h.ID.Addr, pc.peerKey); err != nil {
		return n.refuse(pc, w, err.Error(), err)
	}
	pc.short = f.Flags&proto.FlagShort != 0
	if !pc.short {
		fd := pc.c.Fd()
		n.setPeerSocket(fd)
		setAcceptedKeepalive(fd)
	}
	var e *route.Entry
	if !pc.short && n.cfg.mode == Persistent {
		if old := n.table.Get(h.ID.Addr); old != nil && pc.peerKey != "" {
			if l := old.Link(); l != nil && l.Key() != pc.peerKey {
				err := fmt.Errorf("%w: %s is held by another key", ErrKeyMismatch, h.ID)
				return n.refuse(pc, w, err.Error(), err)
			}
		}
		// Finding the entry and attaching to it is one step under linkMu.
		n.linkMu.Lock()
		defer n.deliverEvents()
		defer n.linkMu.Unlock()
		if err := n.admitLink(pc, h.ID); err != nil {
			return n.refuse(pc, w, err.Error(), err)
		}
		if e, err = n.entryFor(h); err != nil {
			return n.refuse(pc, w, err.Error(), err)
		}
	}
	pc.peer = h.ID
	if e != nil {
		pc.peer.Addr = e.ID.Addr // the route's spelling, when the nonce joined another
	}
	pc.peer.Key = pc.peerKey
	pc.peerNonce = h.Nonce
	w.B = n.appendHello(w.B, codec.KindHelloAck, pc.short)
	pc.deadline.Store(0)
	n.handshakeDone(pc)
	if pc.short {
		// One exchange, then close; bound how long the socket may idle.
		pc.setDeadline(n.cfg.timeout)
	}
	pc.linked()
	pc.state.Store(stateReady)
	n.countReady(pc, 1)
	if e != nil {
		pc.entry = e
		n.attach(pc)
	}
	n.log.Debug("peer hello", "peer", h.ID.String(), "short", pc.short)
	return gnet.None
}

// helloAck completes a dialed link. Loop.
func (n *Node) helloAck(pc *peerConn, h proto.Hello) gnet.Action {
	if pc.abandoned.Load() {
		return gnet.Close
	}
	if h.Nonce == n.nonce {
		err := fmt.Errorf("%w: %w: hello-ack from %s carries this node's own nonce", ErrHandshake, ErrSelf, pc.peer.Addr)
		pc.hsErr = err
		return n.violation(pc, err)
	}
	if pc.peer.Name != "" && h.ID.Name != pc.peer.Name {
		err := fmt.Errorf("%w: %s answered as %q", ErrPeerMismatch, pc.peer, h.ID.Name)
		pc.hsErr = err
		return n.violation(pc, err)
	}
	pc.peer.Name = h.ID.Name // the address stays the one we dialed: it keys the route
	pc.peer.Key = pc.peerKey
	pc.peerNonce = h.Nonce
	pc.deadline.Store(0)
	if pc.short {
		pc.setDeadline(n.cfg.timeout) // the peer should close after its answer; if not, we do
	}
	n.handshakeDone(pc)
	pc.linked()
	pc.state.Store(stateReady)
	n.countReady(pc, 1)
	if pc.entry != nil {
		n.linkMu.Lock()
		if n.table.Get(pc.entry.ID.Addr) == pc.entry {
			n.attach(pc)
		} else { // the route was deleted while we dialed
			n.startDrain(pc)
			n.finishDrain(pc)
		}
		n.linkMu.Unlock()
		n.deliverEvents()
	}
	close(pc.ready)
	return gnet.None
}

// checkPin refuses key for a peer at addr when AddRoute pinned another
// key's fingerprint to addr, or a learned dial to addr in flight expects
// another key (peer discovery pins the key the book holds). Loop.
func (n *Node) checkPin(addr, key string) error {
	if want, ok := n.upkeep.LearnedKey(addr); ok && key != want {
		return fmt.Errorf("%w: %s was learned with key %s, the peer's key is %s", ErrKeyMismatch, addr, proto.PeerID{Key: want}.Fingerprint(), proto.PeerID{Key: key}.Fingerprint())
	}
	v, ok := n.pins.Load(addr)
	if !ok {
		return nil
	}
	got := proto.PeerID{Key: key}.Fingerprint()
	if want := v.(string); got != want {
		return fmt.Errorf("%w: %s is pinned to key %s, the peer's key is %s", ErrKeyMismatch, addr, want, got)
	}
	return nil
}

// msgSelf is the refusal a node sends to a socket it dialed itself.
const msgSelf = "antnet: dialed itself"

// refuse answers a hello with an error frame saying why, then closes. Loop.
func (n *Node) refuse(pc *peerConn, w *bytebufferpool.ByteBuffer, why string, err error) gnet.Action {
	w.B = appendError(w.B, 0, proto.CodeUnsupported, why)
	return n.violation(pc, err)
}
