package proto_test

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/antnet-p2p/antnet/proto"
)

func TestHelloRoundTrip(t *testing.T) {
	tests := []proto.Hello{
		{ID: proto.PeerID{Name: "alice", Addr: "127.0.0.1:9000"}, Nonce: 0},
		{ID: proto.PeerID{Name: "a.b", Addr: "[::1]:1"}, Nonce: 1},
		{ID: proto.PeerID{Name: "n", Addr: "h:65535"}, Nonce: math.MaxUint64},
		{ID: proto.PeerID{Name: strings.Repeat("x", 255), Addr: strings.Repeat("h", 250) + ":9000"}, Nonce: 0xDEADBEEF},
	}
	for _, h := range tests {
		b := proto.AppendHello([]byte("prefix"), h)
		if string(b[:6]) != "prefix" {
			t.Fatalf("AppendHello dropped the prefix")
		}
		b = b[6:]
		if want := 1 + len(h.ID.Name) + 1 + len(h.ID.Addr) + 8; len(b) != want {
			t.Fatalf("len = %d, want %d", len(b), want)
		}
		got, err := proto.ParseHello(b)
		if err != nil || got != h {
			t.Fatalf("ParseHello = %+v, %v; want %+v", got, err, h)
		}
	}
}

func TestHelloGolden(t *testing.T) {
	b := proto.AppendHello(nil, proto.Hello{ID: proto.PeerID{Name: "ab", Addr: "h:1"}, Nonce: 0x0102030405060708})
	want := []byte{2, 'a', 'b', 3, 'h', ':', '1', 1, 2, 3, 4, 5, 6, 7, 8}
	if !bytes.Equal(b, want) {
		t.Fatalf("AppendHello = %v, want %v", b, want)
	}
}

func TestParseHelloTruncated(t *testing.T) {
	b := proto.AppendHello(nil, proto.Hello{ID: proto.PeerID{Name: "alice", Addr: "127.0.0.1:9000"}, Nonce: 42})
	for i := range len(b) {
		if _, err := proto.ParseHello(b[:i]); !errors.Is(err, proto.ErrBadHello) {
			t.Errorf("ParseHello(first %d of %d bytes) = %v, want ErrBadHello", i, len(b), err)
		}
	}
	if _, err := proto.ParseHello(append(b, 0)); !errors.Is(err, proto.ErrBadHello) {
		t.Errorf("ParseHello with a trailing byte = %v, want ErrBadHello", err)
	}
}

// An empty address is a dial-only sender, not an error.
func TestParseHelloDialOnly(t *testing.T) {
	h, err := proto.ParseHello(proto.AppendHello(nil, proto.Hello{ID: proto.PeerID{Name: "cli"}, Nonce: 7}))
	if err != nil || h.Listens() || h.ID.Name != "cli" {
		t.Fatalf("%+v %v", h, err)
	}
}

func TestParseHelloBadPeerID(t *testing.T) {
	tests := []struct {
		name string
		id   proto.PeerID
	}{
		{"empty name", proto.PeerID{Name: "", Addr: "h:1"}},
		{"empty name, no address", proto.PeerID{Name: "", Addr: ""}},
		{"no port", proto.PeerID{Name: "a", Addr: "host"}},
		{"port 0", proto.PeerID{Name: "a", Addr: "h:0"}},
		{"port 65536", proto.PeerID{Name: "a", Addr: "h:65536"}},
		{"no host", proto.PeerID{Name: "a", Addr: ":80"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := proto.AppendHello(nil, proto.Hello{ID: tt.id, Nonce: 7})
			if _, err := proto.ParseHello(b); !errors.Is(err, proto.ErrBadHello) {
				t.Fatalf("ParseHello = %v, want ErrBadHello", err)
			}
		})
	}
}

func FuzzParseHello(f *testing.F) {
	f.Add(proto.AppendHello(nil, proto.Hello{ID: proto.PeerID{Name: "alice", Addr: "127.0.0.1:9000"}, Nonce: 42}))
	f.Add(proto.AppendHello(nil, proto.Hello{ID: proto.PeerID{Name: "a@b", Addr: "[::1]:1"}}))
	f.Add(proto.AppendHello(nil, proto.Hello{ID: proto.PeerID{Name: "", Addr: "h:0"}}))
	f.Add([]byte{})
	f.Add([]byte{255})
	f.Add([]byte{0, 0, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Add(proto.AppendHello(nil, proto.Hello{ID: proto.PeerID{Name: "cli"}, Nonce: 7})) // dial-only
	// Invariant: an error matches ErrBadHello; an accepted hello has a valid
	// name and either no address (a dial-only sender, PROTOCOL.md "hello")
	// or a valid one, no key, and re-encodes to exactly the input; parsing
	// allocates at most the name and the address.
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := proto.ParseHello(b)
		if err != nil {
			if !errors.Is(err, proto.ErrBadHello) {
				t.Fatalf("error %v is not ErrBadHello", err)
			}
			return
		}
		if err := proto.ValidateName(h.ID.Name); err != nil {
			t.Fatalf("accepted an invalid name: %v", err)
		}
		if h.Listens() {
			if err := h.ID.Validate(); err != nil {
				t.Fatalf("accepted an invalid ID: %v", err)
			}
		} else if h.ID.Addr != "" {
			t.Fatalf("Listens() = false with address %q", h.ID.Addr)
		}
		if h.ID.Key != "" {
			t.Fatalf("a hello carries no key, got %q", h.ID.Key)
		}
		if enc := proto.AppendHello(nil, h); !bytes.Equal(enc, b) {
			t.Fatalf("re-encoded %x, parsed from %x", enc, b)
		}
		if a := allocs(func() { _, _ = proto.ParseHello(b) }); a > 2 {
			t.Fatalf("ParseHello allocated %v times, want at most 2 (name, address)", a)
		}
	})
}
