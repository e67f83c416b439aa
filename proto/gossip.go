package proto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"
)

// ErrBadGossip is returned for a gossip payload that does not parse.
var ErrBadGossip = errors.New("antnet: malformed gossip")

// AppendGossip appends a gossip payload: the origin's ID, then the body.
//
//	| origin len u16 BE | origin "name@host:port" | body |
func AppendGossip(dst []byte, origin PeerID, body []byte) []byte {
	o := origin.String()
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(o)))
	dst = append(dst, o...)
	return append(dst, body...)
}

// ParseGossip splits a gossip payload into the origin's ID (raw bytes,
// aliasing b) and the body. An origin that is not a valid peer ID
// (name@host:port) is ErrBadGossip. It does not allocate unless it fails.
func ParseGossip(b []byte) (origin, body []byte, err error) {
	if len(b) < 2 {
		return nil, nil, fmt.Errorf("%w: truncated origin length", ErrBadGossip)
	}
	n := int(binary.BigEndian.Uint16(b))
	if n == 0 || len(b) < 2+n {
		return nil, nil, fmt.Errorf("%w: truncated origin", ErrBadGossip)
	}
	origin = b[2 : 2+n]
	if err := validPeerID(origin); err != nil {
		return nil, nil, fmt.Errorf("%w: origin: %v", ErrBadGossip, err)
	}
	return origin, b[2+n:], nil
}

// validPeerID checks that b is name@host:port without copying it.
func validPeerID(b []byte) error {
	i := bytes.LastIndexByte(b, '@')
	if i < 0 {
		return fmt.Errorf("%w: %q has no '@'", ErrBadPeerID, b)
	}
	// The strings alias b only for the duration of the check.
	p := PeerID{Name: unsafe.String(unsafe.SliceData(b), i), Addr: unsafe.String(unsafe.SliceData(b[i+1:]), len(b)-i-1)}
	if err := p.Validate(); err != nil {
		return errors.New(err.Error()) // a copy: the message may quote the aliased bytes
	}
	return nil
}
