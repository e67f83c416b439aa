package proto_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/antnet-p2p/antnet/proto"
)

func TestParsePeerID(t *testing.T) {
	long := strings.Repeat("n", proto.MaxNameLen)
	longHost := strings.Repeat("h", proto.MaxAddrLen-5) // + ":9000" = 255 bytes
	tests := []struct {
		in      string
		want    proto.PeerID
		wantErr bool
	}{
		{"alice@127.0.0.1:9000", proto.PeerID{Name: "alice", Addr: "127.0.0.1:9000"}, false},
		{"bob@example.com:1", proto.PeerID{Name: "bob", Addr: "example.com:1"}, false},
		{"v6@[::1]:65535", proto.PeerID{Name: "v6", Addr: "[::1]:65535"}, false},
		{"a@b@host:80", proto.PeerID{}, true}, // names may not hold '@'
		{"@@host:80", proto.PeerID{}, true},
		{"x y/z@h:80", proto.PeerID{Name: "x y/z", Addr: "h:80"}, false},
		{long + "@h:80", proto.PeerID{Name: long, Addr: "h:80"}, false},
		{"n@" + longHost + ":9000", proto.PeerID{Name: "n", Addr: longHost + ":9000"}, false},
		{"n@h:00080", proto.PeerID{}, true}, // one spelling per port
		{"x@evil@127.0.0.1:9", proto.PeerID{}, true},
		{"x@h#1:9", proto.PeerID{}, true},
		{"x@h\n:9", proto.PeerID{}, true},
		{"x@h :9", proto.PeerID{}, true},
		{"x#y@h:9", proto.PeerID{Name: "x#y", Addr: "h:9"}, false},

		{"", proto.PeerID{}, true},
		{"alice", proto.PeerID{}, true},
		{"127.0.0.1:9000", proto.PeerID{}, true},
		{"@host:80", proto.PeerID{}, true},
		{"a@", proto.PeerID{}, true},
		{"a@host", proto.PeerID{}, true},
		{"a@:80", proto.PeerID{}, true},
		{"a@host:", proto.PeerID{}, true},
		{"a@host:0", proto.PeerID{}, true},
		{"a@host:00", proto.PeerID{}, true},
		{"a@host:65536", proto.PeerID{}, true},
		{"a@host:99999999999999999999999", proto.PeerID{}, true},
		{"a@host:abc", proto.PeerID{}, true},
		{"a@host:8o", proto.PeerID{}, true},
		{"a@host:-1", proto.PeerID{}, true},
		{"a@host:+80", proto.PeerID{}, true},
		{"a@host: 80", proto.PeerID{}, true},
		{"a@::1:80", proto.PeerID{}, true},
		{"a@host:80:90", proto.PeerID{}, true},
		{long + "n@h:80", proto.PeerID{}, true},
		{"n@" + longHost + "h:9000", proto.PeerID{}, true},
	}
	for _, tt := range tests {
		name := tt.in
		if len(name) > 40 {
			name = name[:20] + "..." + name[len(name)-10:]
		}
		t.Run(name, func(t *testing.T) {
			got, err := proto.ParsePeerID(tt.in)
			if tt.wantErr {
				if !errors.Is(err, proto.ErrBadPeerID) {
					t.Fatalf("ParsePeerID(%q) = %v, %v; want ErrBadPeerID", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParsePeerID(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
			if got.String() != tt.in {
				t.Fatalf("String() = %q, want %q", got.String(), tt.in)
			}
			if got.IsZero() {
				t.Fatal("IsZero() = true for a parsed ID")
			}
		})
	}
}

func TestIsZero(t *testing.T) {
	if !(proto.PeerID{}).IsZero() {
		t.Error("zero PeerID: IsZero() = false")
	}
	if (proto.PeerID{Name: "a"}).IsZero() || (proto.PeerID{Addr: "h:1"}).IsZero() {
		t.Error("half-filled PeerID: IsZero() = true")
	}
}

func TestCompare(t *testing.T) {
	id := func(s string) proto.PeerID {
		p, err := proto.ParsePeerID(s)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		a, b string
		want int
	}{
		{"a@h:1", "a@h:1", 0},
		{"a@h:1", "b@h:1", -1},
		{"b@h:1", "a@h:1", 1},
		{"a@h:1", "a@h:2", -1},
		{"a@h:10", "a@h:9", -1}, // string order, not numeric
		{"a@h:1", "ab@h:1", -1}, // '@' < 'b'
		{"a@10.0.0.2:1", "a@10.0.0.10:1", 1},
		{"Z@h:1", "a@h:1", -1}, // byte order: upper case first
	}
	for _, tt := range tests {
		a, b := id(tt.a), id(tt.b)
		if got := a.Compare(b); got != tt.want {
			t.Errorf("%s.Compare(%s) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := b.Compare(a); got != -tt.want {
			t.Errorf("%s.Compare(%s) = %d, want %d (antisymmetry)", tt.b, tt.a, got, -tt.want)
		}
	}
}

func TestValidateAddr(t *testing.T) {
	for _, ok := range []string{"h:1", "h:65535", "1.2.3.4:80", "[fe80::1%eth0]:80"} {
		if err := proto.ValidateAddr(ok); err != nil {
			t.Errorf("ValidateAddr(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "h", ":80", "h:0", "h:65536", "h:x", "[::1]", strings.Repeat("h", 256) + ":1",
		"evil@127.0.0.1:9", "h#x:9", "h\x00:9", "h\t:9", "h\x7f:9", "h:9#0123456789abcdef"} {
		if err := proto.ValidateAddr(bad); !errors.Is(err, proto.ErrBadPeerID) {
			t.Errorf("ValidateAddr(%q) = %v, want ErrBadPeerID", bad, err)
		}
	}
}

// Whatever a hello carries, an ID that validates prints as a string that
// parses back into the same ID: the route table can always resolve it.
func FuzzPeerIDRoundTrip(f *testing.F) {
	f.Add("evil", "x@127.0.0.1:9")
	f.Add("a", "[::1]:80")
	f.Add("a#b", "h:1")
	f.Fuzz(func(t *testing.T, name, addr string) {
		id := proto.PeerID{Name: name, Addr: addr}
		if id.Validate() != nil {
			return
		}
		got, err := proto.ParsePeerID(id.String())
		if err != nil || got != id {
			t.Fatalf("%+v: ParsePeerID(String()) = %+v, %v", id, got, err)
		}
		rest, fp, err := proto.CutFingerprint(id.String())
		if err != nil || fp != "" || rest != id.String() {
			t.Fatalf("CutFingerprint(%q) = %q, %q, %v", id.String(), rest, fp, err)
		}
	})
}

func TestCutFingerprint(t *testing.T) {
	key := proto.PeerID{Name: "a#b", Addr: "127.0.0.1:9", Key: "0123456789abcdef0123456789abcdef"}
	fp := key.Fingerprint()
	tests := []struct{ in, rest, fp string }{
		{"127.0.0.1:9", "127.0.0.1:9", ""},
		{"127.0.0.1:9#" + fp, "127.0.0.1:9", fp},
		{"127.0.0.1:9#" + strings.ToUpper(fp), "127.0.0.1:9", fp},
		{key.Pinned(), "a#b@127.0.0.1:9", fp},
		{"a#b@127.0.0.1:9", "a#b@127.0.0.1:9", ""},
	}
	for _, tt := range tests {
		rest, got, err := proto.CutFingerprint(tt.in)
		if err != nil || rest != tt.rest || got != tt.fp {
			t.Errorf("CutFingerprint(%q) = %q, %q, %v; want %q, %q", tt.in, rest, got, err, tt.rest, tt.fp)
		}
	}
	for _, bad := range []string{"h:9#", "h:9#abc", "h:9#0123456789abcdeg", "h:9#0123456789abcdef00"} {
		if _, _, err := proto.CutFingerprint(bad); !errors.Is(err, proto.ErrBadPeerID) {
			t.Errorf("CutFingerprint(%q) = %v, want ErrBadPeerID", bad, err)
		}
	}
	if got := (proto.PeerID{Name: "a", Addr: "h:1"}).Pinned(); got != "a@h:1" {
		t.Errorf("Pinned() without a key = %q", got)
	}
}
