package secure

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/antnet-p2p/antnet/codec"
)

// pair runs a whole handshake in memory and returns both sessions.
func pair(t testing.TB) (dialer, acceptor *Session, a, b *Identity) {
	t.Helper()
	a, _ = Generate()
	b, _ = Generate()
	ha, err := NewHandshake(a, true)
	if err != nil {
		t.Fatal(err)
	}
	hb, _ := NewHandshake(b, false)
	m1, err := ha.Start()
	if err != nil {
		t.Fatal(err)
	}
	m2, sb, err := hb.Read(m1)
	if err != nil || sb != nil {
		t.Fatalf("msg1: %v %v", err, sb)
	}
	m3, sa, err := ha.Read(m2)
	if err != nil || sa == nil {
		t.Fatalf("msg2: %v", err)
	}
	none, sb, err := hb.Read(m3)
	if err != nil || sb == nil || none != nil {
		t.Fatalf("msg3: %v", err)
	}
	if !bytes.Equal(sa.Peer, b.Public()) || !bytes.Equal(sb.Peer, a.Public()) {
		t.Fatal("handshake did not authenticate the static keys")
	}
	return sa, sb, a, b
}

func frames(fs ...codec.Frame) []byte {
	var b []byte
	for _, f := range fs {
		b = codec.Append(b, f)
	}
	return b
}

// openAll decodes and opens every sealed frame in b.
func openAll(s *Session, b []byte) ([]codec.Frame, error) {
	var out []codec.Frame
	for len(b) > 0 {
		f, n, err := codec.Decode(b, 0)
		if err != nil || n == 0 {
			return out, errors.Join(err, errors.New("short"))
		}
		if err := s.Open(&f); err != nil {
			return out, err
		}
		out = append(out, f)
		b = b[n:]
	}
	return out, nil
}

func TestSealOpenRoundTrip(t *testing.T) {
	sa, sb, _, _ := pair(t)
	plain := frames(
		codec.Frame{Kind: codec.KindRequest, ID: 1, Payload: []byte("one")},
		codec.Frame{Kind: codec.KindNotice},
		codec.Frame{Kind: codec.KindGossip, TTL: 3, ID: 99, Payload: bytes.Repeat([]byte("x"), 5000)},
	)
	sealed, err := sa.SealFrames(nil, plain)
	if err != nil {
		t.Fatal(err)
	}
	if len(sealed) != len(plain)+3*Overhead || bytes.Contains(sealed, []byte("one")) {
		t.Fatal("payload not sealed")
	}
	got, err := openAll(sb, sealed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(frames(got...), plain) {
		t.Fatal("opened frames differ")
	}
	// The other direction has its own key and nonce.
	back, _ := sb.SealFrames(nil, plain)
	if bytes.Equal(back, sealed) {
		t.Fatal("both directions seal alike")
	}
	if _, err := openAll(sa, back); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRejects(t *testing.T) {
	one := frames(codec.Frame{Kind: codec.KindRequest, ID: 7, Payload: []byte("payload")})
	cases := map[string]func(sa, sb *Session) []byte{
		"flipped payload bit": func(sa, _ *Session) []byte {
			b, _ := sa.SealFrames(nil, one)
			b[codec.HeaderSize] ^= 1
			return b
		},
		"changed id in header": func(sa, _ *Session) []byte {
			b, _ := sa.SealFrames(nil, one)
			b[15] ^= 1
			return b
		},
		"changed kind": func(sa, _ *Session) []byte {
			b, _ := sa.SealFrames(nil, one)
			b[5] = byte(codec.KindNotice)
			return b
		},
		"replayed frame": func(sa, sb *Session) []byte {
			b, _ := sa.SealFrames(nil, one)
			if _, err := openAll(sb, b); err != nil {
				panic(err)
			}
			return b // the same frame again
		},
		"reordered frames": func(sa, _ *Session) []byte {
			first, _ := sa.SealFrames(nil, one)
			second, _ := sa.SealFrames(nil, one)
			return append(second, first...)
		},
		"wrong direction": func(_, sb *Session) []byte {
			b, _ := sb.SealFrames(nil, one)
			return b
		},
		"too short for a tag": func(_, _ *Session) []byte {
			return frames(codec.Frame{Kind: codec.KindRequest, Payload: []byte("short")})
		},
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			sa, sb, _, _ := pair(t)
			if _, err := openAll(sb, mk(sa, sb)); !errors.Is(err, ErrOpen) {
				t.Fatalf("err = %v, want ErrOpen", err)
			}
		})
	}
}

func TestHandshakeRejectsTampering(t *testing.T) {
	a, _ := Generate()
	b, _ := Generate()
	ha, _ := NewHandshake(a, true)
	hb, _ := NewHandshake(b, false)
	m1, _ := ha.Start()
	m2, _, _ := hb.Read(m1)
	m2[len(m2)-1] ^= 1 // the responder's encrypted static key
	if _, _, err := ha.Read(m2); !errors.Is(err, ErrHandshake) {
		t.Fatalf("err = %v", err)
	}
	if _, err := hb.Start(); !errors.Is(err, ErrHandshake) {
		t.Fatal("responder may not Start")
	}
}

func TestLoadOrCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.key")
	id1, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	id2, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(id1.Public(), id2.Public()) {
		t.Fatal("reloaded key differs")
	}
	if _, err := FromPrivate([]byte("short")); !errors.Is(err, ErrBadKey) {
		t.Fatalf("short private key: %v", err)
	}
	// A file that is not a key says so, with its name.
	for _, junk := range []string{"-----BEGIN PRIVATE KEY-----\n", "abcd\n", ""} {
		bad := filepath.Join(t.TempDir(), "not.key")
		if err := os.WriteFile(bad, []byte(junk), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadOrCreate(bad)
		if !errors.Is(err, ErrBadKey) || !strings.HasPrefix(err.Error(), bad+": not an antnet key file (") {
			t.Fatalf("%q: %v", junk, err)
		}
	}
}

// FuzzOpen feeds arbitrary sealed frames to a session: never a panic, and
// nothing forged opens.
func FuzzOpen(f *testing.F) {
	sa, _, _, _ := pair(f)
	valid, _ := sa.SealFrames(nil, frames(codec.Frame{Kind: codec.KindRequest, ID: 1, Payload: []byte("hello")}))
	f.Add(valid)
	f.Add(valid[:len(valid)-1])
	f.Add([]byte{0, 0, 0, 12, 1, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Add(append(append([]byte{}, valid...), valid...))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, sb, _, _ := pair(t)
		for len(b) > 0 {
			fr, n, err := codec.Decode(b, 1<<20)
			if err != nil || n == 0 {
				return
			}
			if sb.Open(&fr) == nil {
				t.Fatalf("a frame not sealed by the peer opened: %x", b[:n])
			}
			b = b[n:]
		}
	})
}
