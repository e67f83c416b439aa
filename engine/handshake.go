package engine

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"

	"github.com/panjf2000/gnet/v2"
	"github.com/valyala/bytebufferpool"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/internal/acceptor"
	"github.com/antnet-p2p/antnet/internal/config"
	"github.com/antnet-p2p/antnet/internal/link"
	"github.com/antnet-p2p/antnet/internal/sockaddr"
	"github.com/antnet-p2p/antnet/proto"
	"github.com/antnet-p2p/antnet/secure"
)

// The handshake: one state machine per socket, run on the socket's event
// loop, from OnOpen until the link is ready or closed. Everything that
// decides whether a socket becomes a link is in this file.
//
// Steps (handshakeStep, read off the link's fields):
//
//	noise   secure nodes (WithIdentity): Noise XX in kind-secure frames, in the clear
//	hello   the acceptor waits for hello, the dialer for hello-ack (sealed on secure links)
//	done    the link is ready: the deadline and the pending-handshake slot are released
//
// The Noise exchange (package secure picks the suite: AES-GCM when both
// ends have AES hardware, ChaChaPoly otherwise):
//
//	dialer -> acceptor   secure(-> e, cipher list)
//	acceptor -> dialer   secure(<- e, ee, s, es), flags = the cipher it chose
//	dialer -> acceptor   secure(-> s, se), then hello, sealed
//
// Transitions:
//
//	open          accepted: refused at once past WithMaxConns or WithMaxHandshakes,
//	              else it takes a pending-handshake slot; dialed: sends the first
//	              Noise message, or hello plus short mode's request
//	noise → hello the Noise handshake ends: WithAdmit and a pinned key are checked;
//	              the dialer sends hello
//	hello → done  acceptor: hello checked (self, this node's address, pinned key,
//	              an address held by another key, WithMaxLinks, the route entry),
//	              hello-ack sent, the link attaches to its route; dialer: hello-ack
//	              checked (own nonce, the name dialed), the link attaches
//	any → closed  the handshake deadline (WithHandshakeTimeout, the ticker), a frame
//	              over maxHandshakeFrame, a kind the step does not expect, a refusal
//
// Every refusal the acceptor sends is an error frame (code unsupported)
// whose text says why, then close: the msg constants below and the
// errors' texts. The dialer's AddRoute returns it wrapped in ErrRefused,
// ErrSelf, ErrKeyMismatch or ErrNotAdmitted; a peer that closes without
// one gets ErrHandshake (silentClose). What an unauthenticated socket can
// make the node hold: one frame of at most maxHandshakeFrame bytes, its
// peerConn and one pending-handshake slot, for at most the handshake
// timeout.

// handshakeStep is where a link is in its handshake.
type handshakeStep uint8

const (
	stepNoise handshakeStep = iota
	stepHello
	stepDone
)

func (s handshakeStep) String() string {
	switch s {
	case stepNoise:
		return "noise"
	case stepHello:
		return "hello"
	case stepDone:
		return "done"
	}
	return "handshakeStep(" + strconv.Itoa(int(s)) + ")"
}

// step returns the link's handshake step. Loop.
func (pc *peerConn) step() handshakeStep {
	switch {
	case pc.State.Load() != link.Handshake:
		return stepDone
	case pc.NoisePending():
		return stepNoise
	}
	return stepHello
}

// msgSelf is the refusal a node sends to a socket it dialed itself.
const msgSelf = "antnet: dialed itself"

const (
	msgNeedSecure = "this node requires secure links (Noise XX)"
	msgPlainOnly  = "this node does not speak secure links"
)

// Refusal reasons a full node sends before closing.
const (
	msgMaxConns      = "antnet: max connections"
	msgMaxHandshakes = "antnet: max pending handshakes"
)

// maxHandshakeFrame bounds every frame a link takes before its handshake
// completes: the largest hello (16 + 1+255+1+255+8 = 536 bytes; 552
// sealed), the Noise messages (at most 112 bytes) and a refusal fit with
// room to spare. A socket that has not finished its handshake thus makes
// the node hold at most this much of its input, whatever the max frame
// size; a length prefix announcing more closes it as soon as it arrives.
const maxHandshakeFrame = 4096

// open starts a socket's handshake, in OnOpen: an accepted socket is
// refused at once over the connection or pending-handshake limit, else it
// waits for hello (or the first Noise message) until the handshake
// deadline; a dialed socket sends the first Noise message, or hello plus
// whatever short mode queued behind it. Loop.
func (pc *peerConn) open(c gnet.Conn) ([]byte, gnet.Action) {
	n := pc.n
	if pc.Outbound() && !pc.Short() {
		n.cfg.setPeerSocket(c.Fd()) // an accepted socket once its hello says persistent
	}
	if pc.State.Has(link.FlagAbandoned) || n.life.state.Load() != nodeRunning {
		// The dialer gave up before the socket arrived, or the node is closing.
		pc.fail(ErrClosed)
		return nil, gnet.Close
	}
	if !pc.Outbound() {
		if refuse := n.refusalReason(); refuse != "" {
			n.stats.Refused.Add(1)
			if n.peerLog.Allow(slog.LevelInfo) {
				n.log.Info("refused connection", "remote", c.RemoteAddr().String(), "reason", refuse)
			}
			pc.fail(ErrClosed)
			return appendError(nil, 0, proto.CodeUnsupported, refuse), gnet.Close
		}
		pc.State.Mark(link.FlagHandshakeSlot)
	}
	pc.raddr, _ = c.RemoteAddr().(*net.TCPAddr) // others may read it: RemoteAddr is loop-only
	pc.setDeadline(n.cfg.HandshakeTimeout)
	pc.lastRecv.Store(n.clock.Load())
	n.conns.Store(pc)
	n.stats.Conns.Add(1)
	if !pc.Outbound() {
		return nil, gnet.None
	}
	if n.cfg.Identity != nil {
		msg, err := pc.startSecure()
		if err != nil {
			pc.setDialErr(fmt.Errorf("%w: %w", ErrHandshake, err))
			return nil, gnet.Close
		}
		return msg, gnet.None // hello follows the Noise handshake, sealed
	}
	out := pc.TakeOut() // short mode queued its request before the dial
	buf := n.appendHello(nil, codec.KindHello, pc.Short())
	if out != nil {
		buf = append(buf, out.B...)
		n.linkEnv.Pool.Put(out)
	}
	pc.CountSent(1, uint64(len(buf)))
	return buf, gnet.None
}

// refusalReason returns why an accepted socket may not stay, or "" (and
// takes a pending-handshake slot) when it may.
// Loop, in OnOpen.
func (n *Node) refusalReason() string {
	if why := n.overLimit(); why != "" {
		return why
	}
	n.stats.Handshaking.Add(1)
	return ""
}

// handshakeDone releases an inbound socket's pending-handshake slot. Loop.
func (pc *peerConn) handshakeDone() {
	n := pc.n
	if pc.State.Has(link.FlagHandshakeSlot) && pc.State.Mark(link.FlagHandshakeSlotFreed) {
		n.stats.Handshaking.Add(-1)
	}
}

// handshakeFrame routes a frame that arrived before the handshake ended to
// the step the link is at. Loop.
func (pc *peerConn) handshakeFrame(f *codec.Frame, w *bytebufferpool.ByteBuffer) gnet.Action {
	switch {
	case f.Kind == codec.KindSecure && pc.Session() != nil:
		return pc.violation(errors.New("secure message after the Noise handshake"))
	case f.Kind == codec.KindSecure || pc.step() == stepNoise:
		return pc.secureFrame(f, w) // a plain node answers it with msgPlainOnly
	}
	return pc.handshake(f, w)
}

// startSecure begins the dialer's handshake and returns its first message as
// a frame. Loop, in OnOpen.
func (pc *peerConn) startSecure() ([]byte, error) {
	n := pc.n
	hs, err := secure.NewHandshakeCiphers(n.cfg.Identity, true, n.cfg.Suites())
	if err != nil {
		return nil, err
	}
	msg, err := hs.Start()
	if err != nil {
		return nil, err
	}
	pc.Secure().Handshake = hs
	return codec.Append(nil, codec.Frame{Kind: codec.KindSecure, Payload: msg}), nil
}

// secureFrame handles a frame on a link whose Noise handshake is not done.
// Loop.
func (pc *peerConn) secureFrame(f *codec.Frame, w *bytebufferpool.ByteBuffer) gnet.Action {
	n := pc.n
	if n.cfg.Identity == nil {
		// We are plain; the peer wants a secure link.
		w.B = appendError(w.B, 0, proto.CodeUnsupported, msgPlainOnly)
		return pc.mismatch("the peer asked for a secure link; this node is plain (no WithIdentity)")
	}
	switch f.Kind {
	case codec.KindSecure:
	case codec.KindHello:
		w.B = appendError(w.B, 0, proto.CodeUnsupported, msgNeedSecure)
		return pc.mismatch("a plain peer said hello; this node requires secure links (WithIdentity)")
	case codec.KindError:
		if pc.Outbound() {
			re := proto.ParseError(*pc.peer, f.Payload)
			return pc.violation(pc.setDialErr(fmt.Errorf("%w: %s", ErrRefused, re.Message)))
		}
		fallthrough
	default:
		return pc.violation(fmt.Errorf("%w: %s before the secure handshake", ErrHandshake, f.Kind))
	}
	if pc.Secure().Handshake == nil {
		if pc.Outbound() {
			return pc.violation(fmt.Errorf("%w: unexpected secure message", ErrHandshake))
		}
		hs, err := secure.NewHandshakeCiphers(n.cfg.Identity, false, n.cfg.Suites())
		if err != nil {
			return pc.violation(err)
		}
		pc.Secure().Handshake = hs
	}
	reply, sess, err := pc.Secure().Handshake.Read(secure.Cipher(f.Flags), f.Payload)
	if err != nil {
		return pc.violation(pc.setDialErr(fmt.Errorf("%w: %w", ErrHandshake, err)))
	}
	if reply != nil {
		// Handshake messages go out in the clear, ahead of anything sealed;
		// the acceptor's names the cipher it chose.
		var flags uint8
		if !pc.Outbound() {
			flags = uint8(pc.Secure().Handshake.Cipher())
		}
		_, _ = pc.Conn().Write(codec.Append(nil, codec.Frame{Kind: codec.KindSecure, Flags: flags, Payload: reply}))
	}
	if sess == nil {
		return gnet.None
	}
	pc.Secure().Handshake = nil
	pc.Secure().Session = sess
	id := *pc.peer
	id.Key = string(sess.Peer)
	pc.setPeer(id, pc.entry)
	n.log.Debug("secure link", "remote", remoteName{pc}, "cipher", sess.Cipher)
	if admit := n.cfg.Admit; admit != nil {
		var err error
		if p := n.runCallback("admit", ranAdmit, func() { err = admit(sess.Peer) }); p != nil {
			err = fmt.Errorf("admission callback panicked: %v", p)
		}
		if err != nil {
			n.stats.Unadmitted.Add(1)
			err = fmt.Errorf("%w: key %s: %w", ErrNotAdmitted, proto.PeerID{Key: pc.peer.Key}.Fingerprint(), err)
			pc.logClosed(slog.LevelInfo, err)
			pc.setDialErr(err)
			pc.fail(err)
			if !pc.Outbound() {
				w.B = appendError(w.B, 0, proto.CodeUnsupported, "key not admitted") // sealed: only that peer reads it
			}
			return gnet.Close
		}
	}
	sess.Peer = nil // the link keeps the key in peer.Key: a second copy is 32 bytes a link
	if pc.Outbound() {
		if err := n.checkPin(pc.peer.Addr, pc.peer.Key); err != nil {
			// Another key answers at a pinned address: say nothing more.
			pc.logClosed(slog.LevelWarn, err)
			pc.setDialErr(err)
			pc.fail(err)
			return gnet.Close
		}
		// Now hello, sealed, and whatever short mode queued behind it.
		w.B = n.appendHello(w.B, codec.KindHello, pc.Short())
	}
	return gnet.None
}

// mismatch closes a link whose other end disagrees about security.
func (pc *peerConn) mismatch(what string) gnet.Action {
	n := pc.n
	n.stats.ProtocolErrors.Add(1)
	what = "secure/plain mismatch: " + what
	if !pc.Outbound() {
		n.peerLog.Refused(slog.LevelWarn, pc.remote(), what)
	} else if n.peerLog.Allow(slog.LevelWarn) {
		n.log.Warn("closing connection", "remote", pc.remote(), "err", what)
	}
	err := fmt.Errorf("%w: %s", ErrRefused, what)
	pc.setDialErr(err)
	pc.fail(err)
	return gnet.Close
}

// appendHello appends a hello or hello-ack frame introducing this node.
func (n *Node) appendHello(dst []byte, kind codec.Kind, short bool) []byte {
	var flags uint8
	if short {
		flags = proto.FlagShort
	} else if n.cfg.SpeaksTrees() {
		flags = proto.FlagTrees
	}
	h := proto.Hello{ID: n.id, Nonce: n.nonce}
	size := 1 + len(h.ID.Name) + 1 + len(h.ID.Addr) + 8
	dst = codec.AppendHeader(dst, kind, flags, 0, 0, size)
	return proto.AppendHello(dst, h)
}

// handshake handles a frame on a link that has not finished its hello
// exchange: the acceptor expects hello, the dialer hello-ack. Loop.
func (pc *peerConn) handshake(f *codec.Frame, w *bytebufferpool.ByteBuffer) gnet.Action {
	n := pc.n
	want := codec.KindHello
	if pc.Outbound() {
		want = codec.KindHelloAck
	}
	if f.Kind == codec.KindError && pc.Outbound() {
		// The acceptor refused us before the handshake: say why.
		re := proto.ParseError(*pc.peer, f.Payload)
		err := fmt.Errorf("%w: %s", ErrRefused, re.Message)
		if re.Message == msgSelf {
			err = fmt.Errorf("%w: %s is this node", ErrSelf, pc.peer.Addr)
		}
		return pc.violation(pc.setDialErr(err))
	}
	if f.Kind != want {
		return pc.violation(fmt.Errorf("%w: got %s, want %s", ErrHandshake, f.Kind, want))
	}
	h, err := proto.ParseHello(f.Payload)
	pc.trees = f.Flags&proto.FlagShort == 0 && f.Flags&proto.FlagTrees != 0 && n.cfg.SpeaksTrees()
	if pc.Outbound() {
		if pc.State.Has(link.FlagAbandoned) {
			return gnet.Close
		}
		h, err := n.checkHelloAck(f.Payload, *pc.peer)
		if err != nil {
			if !errors.Is(err, proto.ErrBadHello) {
				pc.setDialErr(err) // a self-dial or another name: AddRoute says which
			}
			return pc.violation(err)
		}
		return pc.helloAck(h)
	}
	// Acceptor: every refusal is answered with an error frame that says why.
	if err != nil {
		return pc.refuse(w, err.Error(), err)
	}
	if !h.Listens() {
		// A dial-only peer: it is known by this socket's address, over this
		// link only (a learned route: never dialed, gone with the link).
		h.ID.Addr = sockaddr.HostPort(pc.raddr)
		pc.dialOnly = true
	}
	if h.Nonce == n.nonce {
		return pc.refuse(w, msgSelf, fmt.Errorf("%w: a peer dialed itself", ErrSelf))
	}
	if h.ID.Addr == n.id.Addr {
		err := fmt.Errorf("%w: hello from %s claims this node's address", ErrSelf, h.ID)
		return pc.refuse(w, err.Error(), err)
	}
	if err := n.checkPin(h.ID.Addr, pc.peer.Key); err != nil {
		return pc.refuse(w, err.Error(), err)
	}
	pc.SetShort(f.Flags&proto.FlagShort != 0)
	if !pc.Short() {
		fd := pc.Conn().Fd()
		n.cfg.setPeerSocket(fd)
		acceptor.SetKeepalive(fd)
	}
	var e *routeEntry
	if !pc.Short() && n.cfg.Mode == config.Persistent {
		if old := n.routes.table.Get(h.ID.Addr); old != nil && pc.peer.Key != "" {
			if l := old.Link(); l != nil && l.Key() != pc.peer.Key {
				err := fmt.Errorf("%w: %s is held by another key", ErrKeyMismatch, h.ID)
				return pc.refuse(w, err.Error(), err)
			}
		}
		// Finding the entry and attaching to it is one step under linkMu.
		n.routes.linkMu.Lock()
		defer n.peerEvents.Flush()
		defer n.routes.linkMu.Unlock()
		if err := pc.admitLink(h.ID); err != nil {
			return pc.refuse(w, err.Error(), err)
		}
		if e, err = n.routes.entryFor(h); err != nil {
			return pc.refuse(w, err.Error(), err)
		}
	}
	id := h.ID
	if e != nil {
		id.Addr = e.ID.Addr // the route's spelling, when the nonce joined another
	}
	id.Key = pc.peer.Key // from the Noise handshake, if any
	pc.setPeer(id, e)
	pc.peerNonce = h.Nonce
	w.B = n.appendHello(w.B, codec.KindHelloAck, pc.Short())
	pc.deadline.Store(0)
	pc.handshakeDone()
	if pc.Short() {
		// One exchange, then close; bound how long the socket may idle.
		pc.setDeadline(n.cfg.Timeout)
	}
	pc.linked()
	pc.State.Store(link.Ready)
	pc.countReady(1)
	if e != nil {
		pc.entry = e
		pc.attach()
	}
	n.log.Debug("peer hello", "peer", remoteName{pc}, "short", pc.Short())
	return gnet.None
}

// checkHelloAck parses the hello-ack of the peer dialed as dialed and
// checks it: it gives an address, it is not this node's own (a self-dial),
// and it names the peer dialed if a name was. Errors wrap
// proto.ErrBadHello, ErrSelf or ErrPeerMismatch. The loop's dialer and a
// short request in its caller's goroutine both take hello-ack through it.
func (n *Node) checkHelloAck(payload []byte, dialed proto.PeerID) (proto.Hello, error) {
	h, err := proto.ParseHello(payload)
	switch {
	case err != nil:
		return h, err
	case !h.Listens():
		return h, fmt.Errorf("%w: hello-ack without an address", proto.ErrBadHello)
	case h.Nonce == n.nonce:
		return h, fmt.Errorf("%w: %w: hello-ack from %s carries this node's own nonce", ErrHandshake, ErrSelf, dialed.Addr)
	case dialed.Name != "" && h.ID.Name != dialed.Name:
		return h, fmt.Errorf("%w: %s answered as %q", ErrPeerMismatch, dialed, h.ID.Name)
	}
	return h, nil
}

// helloAck completes a dialed link. Loop.
func (pc *peerConn) helloAck(h proto.Hello) gnet.Action {
	n := pc.n
	if pc.peer.Name != h.ID.Name {
		id := *pc.peer
		id.Name = h.ID.Name // the address stays the one we dialed: it keys the route
		pc.setPeer(id, pc.entry)
	}
	pc.peerNonce = h.Nonce
	pc.deadline.Store(0)
	if pc.Short() {
		pc.setDeadline(n.cfg.Timeout) // the peer should close after its answer; if not, we do
	}
	pc.handshakeDone()
	pc.linked()
	pc.State.Store(link.Ready)
	pc.countReady(1)
	if pc.entry != nil {
		n.routes.linkMu.Lock()
		if n.routes.table.Get(pc.entry.ID.Addr) == pc.entry {
			pc.attach()
		} else { // the route was deleted while we dialed
			pc.startDrain()
			pc.finishDrain()
		}
		n.routes.linkMu.Unlock()
		n.peerEvents.Flush()
	}
	close(pc.dial.ready)
	return gnet.None
}

// checkPin refuses key for a peer at addr when AddRoute pinned another
// key's fingerprint to addr, or a learned dial to addr in flight expects
// another key (peer discovery pins the key the book holds). Loop.
func (n *Node) checkPin(addr, key string) error {
	if want, ok := n.upkeep.LearnedKey(addr); ok && key != want {
		return fmt.Errorf("%w: %s was learned with key %s, the peer's key is %s", ErrKeyMismatch, addr, proto.PeerID{Key: want}.Fingerprint(), proto.PeerID{Key: key}.Fingerprint())
	}
	v, ok := n.routes.pins.Load(addr)
	if !ok {
		return nil
	}
	got := proto.PeerID{Key: key}.Fingerprint()
	if want := v.(string); got != want {
		return fmt.Errorf("%w: %s is pinned to key %s, the peer's key is %s", ErrKeyMismatch, addr, want, got)
	}
	return nil
}

// refuse answers a hello with an error frame saying why, then closes. Loop.
func (pc *peerConn) refuse(w *bytebufferpool.ByteBuffer, why string, err error) gnet.Action {
	w.B = appendError(w.B, 0, proto.CodeUnsupported, why)
	return pc.violation(err)
}

// handshakeExpired closes a link whose handshake deadline passed. Ticker.
func (pc *peerConn) handshakeExpired() {
	n := pc.n
	n.stats.HandshakeTimeouts.Add(1)
	if pc.Outbound() {
		n.log.Debug("handshake timeout", "remote", remoteName{pc})
	} else if n.peerLog.Allow(slog.LevelInfo) {
		n.log.Info("refused connection", "remote", pc.remote(), "reason", "no handshake within the handshake timeout", "timeout", n.cfg.HandshakeTimeout)
	}
	pc.fail(fmt.Errorf("%w: timed out", ErrHandshake))
	pc.Close()
}

// silentClose is the dialer's error when the peer closed the socket during
// the handshake without a refusal frame. err is OnClose's (nil or io.EOF
// for an orderly close).
func silentClose(secure bool, err error) error {
	step := "before hello-ack"
	if secure {
		step = "during the secure handshake"
	}
	how := "closed the connection"
	if err != nil && !errors.Is(err, io.EOF) {
		how = "dropped the connection (" + err.Error() + ")"
	}
	return fmt.Errorf("%w: peer %s %s without saying why: a plain/secure mismatch, a limit or a handshake timeout on its side, or not an antnet node? see its log",
		ErrHandshake, how, step)
}
