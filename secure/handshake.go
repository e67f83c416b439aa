package secure

import (
	"crypto/rand"
	"errors"
	"fmt"
	"slices"

	"github.com/flynn/noise"
)

// ErrHandshake is returned for a Noise handshake message that does not
// verify or arrives out of turn, and for a cipher offer or choice the other
// end cannot run (including one a man in the middle rewrote).
var ErrHandshake = errors.New("secure: noise handshake failed")

// ErrCiphers is returned by NewHandshakeCiphers for a cipher list that does
// not name ChaChaPoly, names a suite twice or names an unknown one. Pass
// DefaultCiphers(), or a list built from ChaChaPoly and AESGCM.
var ErrCiphers = errors.New("secure: invalid cipher list")

// prologue binds the handshake to this protocol and version.
var prologue = []byte("antnet/1 noise-xx")

// maxOffer bounds the dialer's cipher list: the first message's payload.
const maxOffer = 16

// Handshake runs one side of Noise XX:
//
//	-> e, [cipher list]
//	<- e, ee, s, es
//	-> s, se
//
// The dialer is the initiator. Its first message carries the ciphers it
// runs, best first, in the clear (and hashed into the handshake, so a
// rewritten list fails the second message). The acceptor picks the first
// suite of its own list that the dialer offered and names it in the frame
// of its answer. Start gives the dialer's first message; Read takes each
// message of the peer and returns the next one to send (nil when it is the
// peer's turn) and, once the handshake is over, the Session.
type Handshake struct {
	hs        *noise.HandshakeState
	id        *Identity
	initiator bool
	ciphers   []Cipher // this end's, best first
	cipher    Cipher   // the suite hs runs
	offer     []byte   // dialer: the first message's payload
	ephemeral [32]byte // dialer: its ephemeral private key, to replay the first message under the acceptor's choice
}

// NewHandshake starts a handshake for id that runs AESGCM when both ends
// have AES hardware and ChaChaPoly otherwise (DefaultCiphers).
func NewHandshake(id *Identity, initiator bool) (*Handshake, error) {
	return NewHandshakeCiphers(id, initiator, DefaultCiphers())
}

// NewHandshakeCiphers is NewHandshake with the suites this end runs, best
// first. The list must name ChaChaPoly, which every peer runs; ErrCiphers
// otherwise.
func NewHandshakeCiphers(id *Identity, initiator bool, ciphers []Cipher) (*Handshake, error) {
	if !slices.Contains(ciphers, ChaChaPoly) {
		return nil, fmt.Errorf("%w: %v lacks ChaChaPoly", ErrCiphers, ciphers)
	}
	for i, c := range ciphers {
		if !c.known() || slices.Contains(ciphers[:i], c) {
			return nil, fmt.Errorf("%w: %v", ErrCiphers, ciphers)
		}
	}
	h := &Handshake{id: id, initiator: initiator, ciphers: slices.Clone(ciphers)}
	if initiator {
		h.offer = make([]byte, len(ciphers))
		for i, c := range ciphers {
			h.offer[i] = byte(c)
		}
		if _, err := rand.Read(h.ephemeral[:]); err != nil {
			return nil, fmt.Errorf("secure: ephemeral key: %w", err)
		}
	}
	return h, nil
}

// state starts Noise under suite c; the dialer's ephemeral key is the one
// it drew once, whatever the suite.
func (h *Handshake) state(c Cipher) error {
	cfg := noise.Config{
		CipherSuite:   c.suite(),
		Pattern:       noise.HandshakeXX,
		Initiator:     h.initiator,
		Prologue:      prologue,
		StaticKeypair: h.id.key,
	}
	if h.initiator {
		cfg.Random = fixedReader(h.ephemeral[:])
	}
	hs, err := noise.NewHandshakeState(cfg)
	if err != nil {
		return err
	}
	h.hs, h.cipher = hs, c
	return nil
}

// Cipher returns the suite the handshake runs: the acceptor's choice once
// the acceptor has read the first message, and the dialer's once it has
// read the second. The acceptor sends its choice as the flags of the frame
// carrying the second message. Zero before it is known.
func (h *Handshake) Cipher() Cipher {
	if h.initiator && h.hs != nil && h.hs.MessageIndex() < 2 {
		return 0
	}
	return h.cipher
}

// Start returns the initiator's first message: its ephemeral key and its
// cipher list.
func (h *Handshake) Start() ([]byte, error) {
	if !h.initiator || h.hs != nil {
		return nil, fmt.Errorf("%w: Start out of turn", ErrHandshake)
	}
	if err := h.state(h.ciphers[0]); err != nil {
		return nil, err
	}
	msg, _, _, err := h.hs.WriteMessage(nil, h.offer)
	return msg, err
}

// Read consumes the peer's message and returns the reply to send, if any,
// and the Session when the handshake is complete. named is the cipher the
// frame carrying msg names (its flags): the acceptor's choice on the second
// message, 0 when the frame names none (read as ChaChaPoly, from an
// acceptor that predates the choice); the acceptor ignores it.
func (h *Handshake) Read(named Cipher, msg []byte) (reply []byte, s *Session, err error) {
	if h.hs == nil {
		if h.initiator {
			return nil, nil, fmt.Errorf("%w: Read before Start", ErrHandshake)
		}
		if err := h.choose(msg); err != nil {
			return nil, nil, err
		}
	} else if h.initiator && h.hs.MessageIndex() == 1 {
		if err := h.chosen(named); err != nil {
			return nil, nil, err
		}
	}
	_, c1, c2, err := h.hs.ReadMessage(nil, msg)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrHandshake, err)
	}
	if c1 != nil { // the responder's last read: -> s, se
		return nil, h.session(c1, c2), nil
	}
	reply, c1, c2, err = h.hs.WriteMessage(nil, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrHandshake, err)
	}
	if c1 != nil { // the initiator's last write
		return reply, h.session(c1, c2), nil
	}
	return reply, nil, nil
}

// choose is the acceptor's pick from the dialer's first message: the first
// suite of its own list that the offer names. An empty offer (a dialer that
// predates it) names ChaChaPoly.
func (h *Handshake) choose(msg1 []byte) error {
	const ephemeralSize = 32
	if len(msg1) < ephemeralSize {
		return fmt.Errorf("%w: first message of %d bytes", ErrHandshake, len(msg1))
	}
	offer := msg1[ephemeralSize:]
	if len(offer) > maxOffer {
		return fmt.Errorf("%w: cipher list of %d bytes, at most %d", ErrHandshake, len(offer), maxOffer)
	}
	if len(offer) == 0 {
		offer = []byte{byte(ChaChaPoly)}
	}
	for _, c := range h.ciphers {
		if slices.Contains(offer, byte(c)) {
			return h.state(c)
		}
	}
	return fmt.Errorf("%w: no cipher in common (offered % x)", ErrHandshake, offer)
}

// chosen switches the dialer to the acceptor's choice, named in the second
// message's frame: a suite it offered, or the handshake fails.
func (h *Handshake) chosen(named Cipher) error {
	if named == 0 {
		named = ChaChaPoly
	}
	if !slices.Contains(h.ciphers, named) {
		return fmt.Errorf("%w: the acceptor chose cipher %d, which this node did not offer", ErrHandshake, named)
	}
	if named != h.cipher {
		// Replay the first message under the chosen suite: the same bytes,
		// hashed with its hash.
		if err := h.state(named); err != nil {
			return err
		}
		if _, _, _, err := h.hs.WriteMessage(nil, h.offer); err != nil {
			return err
		}
	}
	clear(h.ephemeral[:])
	return nil
}

// session orders the cipher states: c1 encrypts initiator to responder.
func (h *Handshake) session(c1, c2 *noise.CipherState) *Session {
	s := &Session{Peer: append([]byte(nil), h.hs.PeerStatic()...), Cipher: h.cipher}
	if !h.initiator {
		c1, c2 = c2, c1
	}
	s.send.init(h.cipher, c1)
	s.recv.init(h.cipher, c2)
	return s
}
