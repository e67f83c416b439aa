package proto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
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

// FlagStamped on a gossip frame (the header's flags byte) says that the body
// starts with the time the origin sent the broadcast: Unix nanoseconds, u64
// BE, by the origin's clock. Relays keep the flag and the stamp.
const FlagStamped uint8 = 1 << 0

// AppendGossipStamped appends a stamped gossip payload (send with
// FlagStamped): the origin's ID, the send time sent, then the body.
//
//	| origin len u16 BE | origin "name@host:port" | sent u64 BE | body |
func AppendGossipStamped(dst []byte, origin PeerID, sent time.Time, body []byte) []byte {
	dst = AppendGossip(dst, origin, nil)
	dst = binary.BigEndian.AppendUint64(dst, uint64(sent.UnixNano()))
	return append(dst, body...)
}

// CutStamp splits the body of a FlagStamped gossip payload (as ParseGossip
// returns it) into the send time and the rest.
func CutStamp(body []byte) (sent time.Time, rest []byte, err error) {
	if len(body) < 8 {
		return time.Time{}, nil, fmt.Errorf("%w: stamped body of %d bytes", ErrBadGossip, len(body))
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(body))), body[8:], nil
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
