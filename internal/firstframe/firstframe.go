// Package firstframe says in words what a peer sent when its first frame
// could not be decoded: another protocol's text, a length no antnet node
// sends, another wire version. A peer that is not an antnet node is the
// usual cause, and the error says so.
package firstframe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"github.com/antnet-p2p/antnet/codec"
)

// Explain explains a frame the node could not decode before the
// handshake from the bytes the peer sent (prefix: up to 8 of them): another
// protocol's text, a length no antnet node sends, another wire version. The
// result wraps err.
func Explain(prefix []byte, err error) error {
	if len(prefix) >= 4 && printable(prefix) {
		return fmt.Errorf("peer speaks another protocol (starts with %q): not an antnet node? (%w)", prefix, err)
	}
	var se *codec.SizeError
	if errors.As(err, &se) {
		size := uint64(binary.BigEndian.Uint32(prefix)) + 4
		return fmt.Errorf("peer sent a frame of %s before the handshake: not an antnet node? (%w)", humanBytes(size), err)
	}
	if errors.Is(err, codec.ErrVersion) && len(prefix) >= 5 {
		return fmt.Errorf("peer speaks antnet wire version %d, this node %d (%w)", prefix[4], codec.Version, err)
	}
	return fmt.Errorf("malformed first frame: %w", err)
}

// printable reports whether b is printable ASCII (tabs and line ends
// included): the start of a text protocol.
func printable(b []byte) bool {
	for _, c := range b {
		if (c < 0x20 || c > 0x7e) && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

// humanBytes prints n bytes for a person: 1.2 GB, 80 KB, 12 B.
func humanBytes(n uint64) string {
	const unit = 1000
	if n < unit {
		return strconv.FormatUint(n, 10) + " B"
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return strconv.FormatFloat(float64(n)/float64(div), 'f', 1, 64) + " " + string("KMGT"[exp]) + "B"
}
