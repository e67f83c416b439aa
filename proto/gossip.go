package proto

import (
	"errors"
	"fmt"
)

// ErrBadGossip is returned for a gossip payload that does not parse.
var ErrBadGossip = errors.New("antnet: malformed gossip")

// AppendGossip appends a gossip payload: the origin's ID, then the body.
//
//	| origin len u8 | origin "name@host:port" | body |
func AppendGossip(dst []byte, origin PeerID, body []byte) []byte {
	o := origin.String()
	dst = append(dst, byte(len(o)))
	dst = append(dst, o...)
	return append(dst, body...)
}

// ParseGossip splits a gossip payload into the origin's ID (raw bytes,
// aliasing b) and the body.
func ParseGossip(b []byte) (origin, body []byte, err error) {
	o, rest, ok := cut8(b)
	if !ok || len(o) == 0 {
		return nil, nil, fmt.Errorf("%w: truncated origin", ErrBadGossip)
	}
	return o, rest, nil
}
