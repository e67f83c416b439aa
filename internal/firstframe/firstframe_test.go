package firstframe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/antnet-p2p/antnet/codec"
)

// TestExplain: the decoder's own error on each kind of bad first bytes is
// explained in words, and still matches what the decoder returned.
func TestExplain(t *testing.T) {
	huge := binary.BigEndian.AppendUint32(nil, 1_200_000_000)
	huge = append(huge, 1, 2, 0, 0)
	versioned := codec.AppendHeader(nil, codec.KindHello, 0, 0, 0, 0)
	versioned[4] = 9
	garbage := []byte{0, 0, 0, 1, codec.Version, 0, 0, 0}
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"http", []byte("GET / HTTP/1.1\r\n"), `peer speaks another protocol (starts with "GET / HT"): not an antnet node?`},
		{"size", huge, "peer sent a frame of 1.2 GB before the handshake: not an antnet node?"},
		{"version", versioned, fmt.Sprintf("peer speaks antnet wire version 9, this node %d", codec.Version)},
		{"malformed", garbage, "malformed first frame: "},
	} {
		_, _, err := codec.Decode(tc.in, 4096)
		if err == nil {
			t.Fatalf("%s: the decoder took %q", tc.name, tc.in)
		}
		got := Explain(tc.in[:min(len(tc.in), 8)], err)
		if !strings.Contains(got.Error(), tc.want) {
			t.Errorf("%s: %q, want it to contain %q", tc.name, got, tc.want)
		}
		if !errors.Is(got, err) {
			t.Errorf("%s: %v does not wrap the decoder's %v", tc.name, got, err)
		}
	}
}

// TestHumanBytes: sizes in decimal units, one decimal past a thousand.
func TestHumanBytes(t *testing.T) {
	for n, want := range map[uint64]string{
		0:             "0 B",
		999:           "999 B",
		1000:          "1.0 KB",
		80_000:        "80.0 KB",
		1_200_000_000: "1.2 GB",
		4<<40 + 1:     "4.4 TB",
	} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
