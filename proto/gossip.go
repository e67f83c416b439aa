package proto

import (
	"encoding/binary"
	"errors"
	"fmt"
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
// aliasing b) and the body.
func ParseGossip(b []byte) (origin, body []byte, err error) {
	if len(b) < 2 {
		return nil, nil, fmt.Errorf("%w: truncated origin length", ErrBadGossip)
	}
	n := int(binary.BigEndian.Uint16(b))
	if n == 0 || len(b) < 2+n {
		return nil, nil, fmt.Errorf("%w: truncated origin", ErrBadGossip)
	}
	return b[2 : 2+n], b[2+n:], nil
}
