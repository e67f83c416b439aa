package proto

import (
	"errors"
	"fmt"
)

// Peer exchange: a node asks a peer for addresses it knows (pex-request,
// payload: how many it wants) and the peer answers with at most that many,
// and never more than MaxPexAddrs (pex-response, same id):
//
//	pex-request:  | want u8 |
//	pex-response: | count u8 | count × ( name len u8 | name | addr len u8 | addr | key len u8 | key ) |
//
// key is empty on plain networks and the 32-byte static key on secure ones;
// an entry with another key length refuses the whole response.

// MaxPexAddrs bounds the addresses in one pex-response.
const MaxPexAddrs = 32

// ErrBadPex is returned for a peer-exchange payload that does not parse.
var ErrBadPex = errors.New("antnet: malformed peer exchange")

// AppendPexRequest appends a pex-request payload asking for want addresses
// (capped at MaxPexAddrs).
func AppendPexRequest(dst []byte, want int) []byte {
	return append(dst, byte(min(max(want, 0), MaxPexAddrs)))
}

// ParsePexRequest returns how many addresses a pex-request asks for,
// capped at MaxPexAddrs.
func ParsePexRequest(b []byte) (int, error) {
	if len(b) != 1 {
		return 0, fmt.Errorf("%w: request of %d bytes, want 1", ErrBadPex, len(b))
	}
	return min(int(b[0]), MaxPexAddrs), nil
}

// AppendPexResponse appends a pex-response payload listing ids (the first
// MaxPexAddrs of them).
func AppendPexResponse(dst []byte, ids []PeerID) []byte {
	ids = ids[:min(len(ids), MaxPexAddrs)]
	dst = append(dst, byte(len(ids)))
	for _, id := range ids {
		dst = append(dst, byte(len(id.Name)))
		dst = append(dst, id.Name...)
		dst = append(dst, byte(len(id.Addr)))
		dst = append(dst, id.Addr...)
		dst = append(dst, byte(len(id.Key)))
		dst = append(dst, id.Key...)
	}
	return dst
}

// ParsePexResponse decodes a pex-response payload. Every entry must be a
// valid PeerID with a key of exactly keySize bytes (0 on plain networks,
// 32 on secure ones: a secure node learns no address without the key to
// pin on it), and there must be at most MaxPexAddrs of them; otherwise the
// whole payload is refused.
func ParsePexResponse(b []byte, keySize int) ([]PeerID, error) {
	if len(b) < 1 {
		return nil, fmt.Errorf("%w: empty response", ErrBadPex)
	}
	n := int(b[0])
	if n > MaxPexAddrs {
		return nil, fmt.Errorf("%w: %d addresses, at most %d", ErrBadPex, n, MaxPexAddrs)
	}
	rest := b[1:]
	ids := make([]PeerID, 0, n)
	for i := range n {
		name, r, ok1 := cut8(rest)
		addr, r, ok2 := cut8(r)
		key, r, ok3 := cut8(r)
		if !ok1 || !ok2 || !ok3 {
			return nil, fmt.Errorf("%w: entry %d truncated", ErrBadPex, i)
		}
		id := PeerID{Name: string(name), Addr: string(addr), Key: string(key)}
		if err := id.Validate(); err != nil {
			return nil, fmt.Errorf("%w: entry %d: %v", ErrBadPex, i, err)
		}
		if len(key) != keySize {
			return nil, fmt.Errorf("%w: entry %d: key of %d bytes, want %d", ErrBadPex, i, len(key), keySize)
		}
		ids = append(ids, id)
		rest = r
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last entry", ErrBadPex, len(rest))
	}
	return ids, nil
}
