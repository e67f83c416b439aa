package secure

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flynn/noise"

	"github.com/antnet-p2p/antnet/codec"
)

// pair runs a whole handshake in memory and returns both sessions.
func pair(t testing.TB) (dialer, acceptor *Session, a, b *Identity) {
	return pairCiphers(t, DefaultCiphers(), DefaultCiphers())
}

// pairCiphers is pair with the ciphers each end runs.
func pairCiphers(t testing.TB, dialerCiphers, acceptorCiphers []Cipher) (dialer, acceptor *Session, a, b *Identity) {
	t.Helper()
	a, _ = Generate()
	b, _ = Generate()
	ha, err := NewHandshakeCiphers(a, true, dialerCiphers)
	if err != nil {
		t.Fatal(err)
	}
	hb, err := NewHandshakeCiphers(b, false, acceptorCiphers)
	if err != nil {
		t.Fatal(err)
	}
	m1, err := ha.Start()
	if err != nil {
		t.Fatal(err)
	}
	m2, sb, err := hb.Read(0, m1)
	if err != nil || sb != nil {
		t.Fatalf("msg1: %v %v", err, sb)
	}
	m3, sa, err := ha.Read(hb.Cipher(), m2)
	if err != nil || sa == nil {
		t.Fatalf("msg2: %v", err)
	}
	none, sb, err := hb.Read(0, m3)
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

// sealsBothWays fails t unless a request carrying payload, sealed by
// either session, opens at the other.
func sealsBothWays(t *testing.T, a, b *Session, payload []byte) {
	t.Helper()
	plain := frames(codec.Frame{Kind: codec.KindRequest, ID: 1, Payload: payload})
	for _, d := range [][2]*Session{{a, b}, {b, a}} {
		sealed, err := d[0].SealFrames(nil, plain)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := openAll(d[1], sealed); err != nil || !bytes.Equal(frames(got...), plain) {
			t.Fatalf("round trip: %v", err)
		}
	}
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
	m2, _, _ := hb.Read(0, m1)
	m2[len(m2)-1] ^= 1 // the responder's encrypted static key
	if _, _, err := ha.Read(hb.Cipher(), m2); !errors.Is(err, ErrHandshake) {
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

// FuzzOpen feeds arbitrary sealed frames to a session: never a panic,
// nothing forged opens, and every refusal matches ErrOpen.
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
			if err := sb.Open(&fr); err == nil {
				t.Fatalf("a frame not sealed by the peer opened: %x", b[:n])
			} else if !errors.Is(err, ErrOpen) {
				t.Fatalf("Open: %v, want ErrOpen", err)
			}
			b = b[n:]
		}
	})
}

var (
	aesAndChaCha = []Cipher{AESGCM, ChaChaPoly} // an end with AES hardware
	chachaOnly   = []Cipher{ChaChaPoly}         // an end without
)

// Each pairing runs AESGCM only when both ends have it, and seals and
// opens both ways.
func TestCipherNegotiation(t *testing.T) {
	for _, c := range []struct {
		name             string
		dialer, acceptor []Cipher
		want             Cipher
	}{
		{"AES-AES", aesAndChaCha, aesAndChaCha, AESGCM},
		{"AES dialer, ChaCha-only acceptor", aesAndChaCha, chachaOnly, ChaChaPoly},
		{"ChaCha-only dialer, AES acceptor", chachaOnly, aesAndChaCha, ChaChaPoly},
		{"ChaCha-ChaCha", chachaOnly, chachaOnly, ChaChaPoly},
		{"acceptor prefers ChaCha", aesAndChaCha, []Cipher{ChaChaPoly, AESGCM}, ChaChaPoly},
	} {
		t.Run(c.name, func(t *testing.T) {
			sa, sb, _, _ := pairCiphers(t, c.dialer, c.acceptor)
			if sa.Cipher != c.want || sb.Cipher != c.want {
				t.Fatalf("dialer runs %v, acceptor %v, want %v", sa.Cipher, sb.Cipher, c.want)
			}
			sealsBothWays(t, sa, sb, []byte("one"))
		})
	}
	if DefaultCiphers()[0] == AESGCM != HardwareAES() {
		t.Fatalf("DefaultCiphers %v with HardwareAES %v", DefaultCiphers(), HardwareAES())
	}
}

// oldNoise is a peer from before cipher negotiation: ChaChaPoly, empty
// handshake payloads, frame flags neither sent nor read.
func oldNoise(t *testing.T, initiator bool) (*noise.HandshakeState, *Identity) {
	t.Helper()
	id, _ := Generate()
	hs, err := noise.NewHandshakeState(noise.Config{
		CipherSuite: noise.NewCipherSuite(noise.DH25519, noise.CipherChaChaPoly, noise.HashBLAKE2s),
		Pattern:     noise.HandshakeXX, Initiator: initiator,
		Prologue: []byte("antnet/1 noise-xx"), StaticKeypair: id.key,
	})
	if err != nil {
		t.Fatal(err)
	}
	return hs, id
}

// A node with AES hardware still links with a peer that predates the
// negotiation, either way round, on ChaChaPoly.
func TestCipherOldPeer(t *testing.T) {
	me, _ := Generate()
	t.Run("old dialer", func(t *testing.T) {
		old, _ := oldNoise(t, true)
		h, _ := NewHandshakeCiphers(me, false, aesAndChaCha)
		m1, _, _, _ := old.WriteMessage(nil, nil)
		m2, _, err := h.Read(0, m1)
		if err != nil || h.Cipher() != ChaChaPoly {
			t.Fatalf("%v, chose %v", err, h.Cipher())
		}
		if _, _, _, err := old.ReadMessage(nil, m2); err != nil { // flags ignored
			t.Fatal(err)
		}
		m3, send, _, err := old.WriteMessage(nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, s, err := h.Read(0, m3)
		if err != nil || s == nil || s.Cipher != ChaChaPoly {
			t.Fatalf("msg3: %v", err)
		}
		sealed, _ := send.Encrypt(nil, []byte("ad"), []byte("hi"))
		if got, err := s.recv.open(nil, []byte("ad"), sealed); err != nil || string(got) != "hi" {
			t.Fatalf("transport: %q %v", got, err)
		}
	})
	t.Run("old acceptor", func(t *testing.T) {
		old, _ := oldNoise(t, false)
		h, _ := NewHandshakeCiphers(me, true, aesAndChaCha)
		m1, _ := h.Start()
		if _, _, _, err := old.ReadMessage(nil, m1); err != nil { // the cipher list is an ignored payload
			t.Fatal(err)
		}
		m2, _, _, err := old.WriteMessage(nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		m3, s, err := h.Read(0, m2) // an old acceptor's frame names no cipher
		if err != nil || s == nil || s.Cipher != ChaChaPoly {
			t.Fatalf("msg2: %v", err)
		}
		if _, _, _, err := old.ReadMessage(nil, m3); err != nil {
			t.Fatal(err)
		}
	})
}

// A man in the middle who rewrites the cipher list or the acceptor's
// choice breaks the handshake: the list is hashed into it, and the choice
// names the suite (and hash) both ends must run.
func TestCipherDowngradeFails(t *testing.T) {
	for _, c := range []struct {
		name         string
		offer, named func(m1 []byte, named Cipher) ([]byte, Cipher)
		dialer       []Cipher
	}{
		{name: "offer rewritten to ChaCha only", offer: func(m1 []byte, _ Cipher) ([]byte, Cipher) {
			return append(m1[:32:32], byte(ChaChaPoly)), 0
		}},
		{name: "offer stripped (an old dialer's)", offer: func(m1 []byte, _ Cipher) ([]byte, Cipher) {
			return m1[:32:32], 0
		}},
		{name: "choice rewritten to ChaCha", named: func(_ []byte, _ Cipher) ([]byte, Cipher) {
			return nil, ChaChaPoly
		}},
		{name: "choice erased (an old acceptor's)", named: func(_ []byte, _ Cipher) ([]byte, Cipher) {
			return nil, 0
		}},
		{name: "choice not offered", dialer: chachaOnly, named: func(_ []byte, _ Cipher) ([]byte, Cipher) {
			return nil, AESGCM
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, _ := Generate()
			b, _ := Generate()
			if c.dialer == nil {
				c.dialer = aesAndChaCha
			}
			ha, _ := NewHandshakeCiphers(a, true, c.dialer)
			hb, _ := NewHandshakeCiphers(b, false, aesAndChaCha)
			m1, _ := ha.Start()
			if c.offer != nil {
				m1, _ = c.offer(m1, 0)
			}
			m2, _, err := hb.Read(0, m1)
			if err != nil {
				t.Fatal(err)
			}
			named := hb.Cipher()
			if c.named != nil {
				_, named = c.named(m2, named)
			}
			if _, _, err := ha.Read(named, m2); !errors.Is(err, ErrHandshake) {
				t.Fatalf("dialer: err = %v, want ErrHandshake", err)
			}
		})
	}
}

func TestCipherListChecked(t *testing.T) {
	id, _ := Generate()
	for _, bad := range [][]Cipher{nil, {AESGCM}, {ChaChaPoly, ChaChaPoly}, {ChaChaPoly, 3}} {
		if _, err := NewHandshakeCiphers(id, true, bad); !errors.Is(err, ErrCiphers) {
			t.Errorf("%v: err = %v, want ErrCiphers", bad, err)
		}
	}
	// An acceptor takes unknown suites in the list, ignoring them, and
	// refuses a list longer than 16 bytes.
	d, _ := NewHandshake(id, true)
	m1, _ := d.Start()
	e := m1[:32:32] // a valid ephemeral key, then the list under test
	h, _ := NewHandshakeCiphers(id, false, chachaOnly)
	if _, _, err := h.Read(0, append(e, 9, 1)); err != nil || h.Cipher() != ChaChaPoly {
		t.Fatalf("unknown suite in the list: %v", err)
	}
	h, _ = NewHandshakeCiphers(id, false, chachaOnly)
	if _, _, err := h.Read(0, append(e, bytes.Repeat([]byte{1}, 17)...)); !errors.Is(err, ErrHandshake) {
		t.Fatalf("17-byte list: %v", err)
	}
	h, _ = NewHandshakeCiphers(id, false, aesAndChaCha)
	if _, _, err := h.Read(0, append(e, 9)); !errors.Is(err, ErrHandshake) {
		t.Fatalf("nothing in common: %v", err)
	}
}
