package secure

import (
	"errors"
	"fmt"

	"github.com/flynn/noise"
)

// ErrHandshake is returned for a Noise handshake message that does not
// verify or arrives out of turn.
var ErrHandshake = errors.New("secure: noise handshake failed")

// prologue binds the handshake to this protocol and version.
var prologue = []byte("antnet/1 noise-xx")

// Handshake runs one side of Noise XX:
//
//	-> e
//	<- e, ee, s, es
//	-> s, se
//
// The dialer is the initiator. Step returns the next message to send (nil
// when it is the peer's turn) and, once the handshake is over, the Session.
type Handshake struct {
	hs        *noise.HandshakeState
	initiator bool
}

// NewHandshake starts a handshake for id.
func NewHandshake(id *Identity, initiator bool) (*Handshake, error) {
	hs, err := noise.NewHandshakeState(noise.Config{
		CipherSuite:   suite,
		Pattern:       noise.HandshakeXX,
		Initiator:     initiator,
		Prologue:      prologue,
		StaticKeypair: id.key,
	})
	if err != nil {
		return nil, err
	}
	return &Handshake{hs: hs, initiator: initiator}, nil
}

// Start returns the initiator's first message.
func (h *Handshake) Start() ([]byte, error) {
	if !h.initiator || h.hs.MessageIndex() != 0 {
		return nil, fmt.Errorf("%w: Start out of turn", ErrHandshake)
	}
	msg, _, _, err := h.hs.WriteMessage(nil, nil)
	return msg, err
}

// Read consumes the peer's message and returns the reply to send, if any,
// and the Session when the handshake is complete.
func (h *Handshake) Read(msg []byte) (reply []byte, s *Session, err error) {
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

// session orders the cipher states: c1 encrypts initiator to responder.
func (h *Handshake) session(c1, c2 *noise.CipherState) *Session {
	s := &Session{Peer: append([]byte(nil), h.hs.PeerStatic()...)}
	if !h.initiator {
		c1, c2 = c2, c1
	}
	s.send, s.recv = newCipherState(c1), newCipherState(c2)
	return s
}
