package proto

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Hello is the payload of hello and hello-ack frames: who the sender is and
// where it listens, plus a random nonce that tells a node it dialed itself.
type Hello struct {
	ID    PeerID
	Nonce uint64
}

// Hello frame flags (the frame header's flags byte).
const (
	// FlagShort marks a short-mode hello: the connection carries one exchange
	// and the acceptor does not add the dialer to its route table.
	FlagShort uint8 = 1 << 0
	// FlagTrees on a persistent hello or hello-ack says the sender relays
	// broadcasts on epidemic broadcast trees and understands prune, ihave
	// and graft. A link uses trees only when both its hello and its
	// hello-ack carry the flag; otherwise both ends flood on it.
	FlagTrees uint8 = 1 << 1
)

// ErrBadHello is returned for a hello payload that does not parse or carries
// an invalid peer ID.
var ErrBadHello = errors.New("antnet: malformed hello")

// AppendHello appends h's encoding to dst:
//
//	| name len u8 | name | addr len u8 | addr | nonce u64 BE |
func AppendHello(dst []byte, h Hello) []byte {
	dst = append(dst, byte(len(h.ID.Name)))
	dst = append(dst, h.ID.Name...)
	dst = append(dst, byte(len(h.ID.Addr)))
	dst = append(dst, h.ID.Addr...)
	return binary.BigEndian.AppendUint64(dst, h.Nonce)
}

// Listens reports whether the sender gave a listen address. A hello with
// an empty address comes from a peer that only dials (a client): it is
// reachable over that connection alone, and nobody should dial it.
func (h Hello) Listens() bool { return h.ID.Addr != "" }

// ParseHello decodes a hello payload and validates the peer ID in it; an
// empty address is allowed (see Listens), any other must be valid.
func ParseHello(b []byte) (Hello, error) {
	var h Hello
	name, rest, ok := cut8(b)
	if !ok {
		return h, fmt.Errorf("%w: truncated name", ErrBadHello)
	}
	addr, rest, ok := cut8(rest)
	if !ok || len(rest) != 8 {
		return h, fmt.Errorf("%w: truncated address or nonce", ErrBadHello)
	}
	h.ID = PeerID{Name: string(name), Addr: string(addr)}
	h.Nonce = binary.BigEndian.Uint64(rest)
	err := ValidateName(h.ID.Name)
	if err == nil && h.Listens() {
		err = ValidateAddr(h.ID.Addr)
	}
	if err != nil {
		return h, fmt.Errorf("%w: %v", ErrBadHello, err)
	}
	return h, nil
}

func cut8(b []byte) (field, rest []byte, ok bool) {
	if len(b) < 1 || len(b) < 1+int(b[0]) {
		return nil, nil, false
	}
	n := int(b[0])
	return b[1 : 1+n], b[1+n:], true
}
