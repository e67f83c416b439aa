package proto

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Broadcast-tree control messages (prune, ihave, graft): the lazy half of
// epidemic broadcast trees. A prune has an empty payload. An ihave lists
// broadcasts its sender has, each with the ttl a copy from the sender would
// carry; a graft lists broadcasts its sender wants:
//
//	ihave: | count u8 | count × ( id u64 BE | ttl u8 ) |
//	graft: | count u8 | count × id u64 BE |
//
// count is 1..MaxTreeIDs and the payload ends exactly after the last entry.

// MaxTreeIDs is the most ids one ihave or graft carries.
const MaxTreeIDs = 64

// ErrBadTree is returned for a prune, ihave or graft payload that does not
// parse.
var ErrBadTree = errors.New("antnet: malformed broadcast-tree control message")

// Have is one ihave entry: a broadcast id and the ttl a copy of it sent by
// the announcer would carry.
type Have struct {
	ID  uint64
	TTL uint8
}

// IHaveSize is the payload size of an ihave of n entries.
func IHaveSize(n int) int { return 1 + 9*n }

// GraftSize is the payload size of a graft of n ids.
func GraftSize(n int) int { return 1 + 8*n }

// AppendIHave appends an ihave payload of 1..MaxTreeIDs entries.
func AppendIHave(dst []byte, have []Have) []byte {
	dst = append(dst, byte(len(have)))
	for _, h := range have {
		dst = binary.BigEndian.AppendUint64(dst, h.ID)
		dst = append(dst, h.TTL)
	}
	return dst
}

// ParseIHave appends the entries of an ihave payload to dst. A count of 0
// or above MaxTreeIDs, or a payload of another length than the count
// says, is ErrBadTree. It allocates only to grow dst.
func ParseIHave(dst []Have, b []byte) ([]Have, error) {
	n, err := treeCount(b, 9, "ihave")
	if err != nil {
		return dst, err
	}
	for i := range n {
		e := b[1+9*i:]
		dst = append(dst, Have{ID: binary.BigEndian.Uint64(e), TTL: e[8]})
	}
	return dst, nil
}

// AppendGraft appends a graft payload of 1..MaxTreeIDs ids.
func AppendGraft(dst []byte, ids []uint64) []byte {
	dst = append(dst, byte(len(ids)))
	for _, id := range ids {
		dst = binary.BigEndian.AppendUint64(dst, id)
	}
	return dst
}

// ParseGraft appends the ids of a graft payload to dst, with the same
// rules as ParseIHave.
func ParseGraft(dst []uint64, b []byte) ([]uint64, error) {
	n, err := treeCount(b, 8, "graft")
	if err != nil {
		return dst, err
	}
	for i := range n {
		dst = append(dst, binary.BigEndian.Uint64(b[1+8*i:]))
	}
	return dst, nil
}

// ParsePrune checks a prune payload: it must be empty.
func ParsePrune(b []byte) error {
	if len(b) != 0 {
		return fmt.Errorf("%w: prune with a %d-byte payload", ErrBadTree, len(b))
	}
	return nil
}

func treeCount(b []byte, size int, kind string) (int, error) {
	if len(b) == 0 {
		return 0, fmt.Errorf("%w: empty %s", ErrBadTree, kind)
	}
	n := int(b[0])
	if n == 0 || n > MaxTreeIDs {
		return 0, fmt.Errorf("%w: %s of %d ids (1..%d)", ErrBadTree, kind, n, MaxTreeIDs)
	}
	if len(b) != 1+size*n {
		return 0, fmt.Errorf("%w: %s of %d ids in %d bytes, want %d", ErrBadTree, kind, n, len(b), 1+size*n)
	}
	return n, nil
}
