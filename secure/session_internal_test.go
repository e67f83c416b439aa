package secure

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/flynn/noise"

	"github.com/antnet-p2p/antnet/codec"
)

// The transport cipher must be Noise's: frames sealed by flynn/noise's
// CipherState open with cipherState and the other way round, nonce by nonce
// (each frame moves both counters: one seals, the other opens).
func TestCipherStateMatchesNoise(t *testing.T) {
	for _, c := range []Cipher{ChaChaPoly, AESGCM} {
		t.Run(c.String(), func(t *testing.T) { cipherStateMatchesNoise(t, c) })
	}
}

func cipherStateMatchesNoise(t *testing.T, c Cipher) {
	var k [32]byte
	for i := range k {
		k[i] = byte(i * 7)
	}
	theirs := noise.UnsafeNewCipherState(c.suite(), k, 0)
	ours := newCipherState(c, noise.UnsafeNewCipherState(c.suite(), k, 0))
	ad := []byte("header")
	type aead func(out, ad, in []byte) ([]byte, error)
	directions := []struct {
		name       string
		seal, open aead
	}{
		{"noise -> ours", theirs.Encrypt, ours.open},
		{"ours -> noise", ours.seal, theirs.Decrypt},
	}
	for i := range 50 {
		d := directions[i%2]
		msg := bytes.Repeat([]byte{byte(i)}, i*13)
		sealed, err := d.seal(nil, ad, msg)
		if err != nil {
			t.Fatal(err)
		}
		got, err := d.open(nil, ad, sealed)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("frame %d, %s: %q, %v", i, d.name, got, err)
		}
	}
	if theirs.Nonce() != ours.n {
		t.Fatalf("nonces apart: noise %d, ours %d", theirs.Nonce(), ours.n)
	}
}

func TestCipherStateLastNonceReserved(t *testing.T) {
	c := newCipherState(ChaChaPoly, noise.UnsafeNewCipherState(chachaSuite, [32]byte{1}, 0))
	c.n = math.MaxUint64 - 1
	if _, err := c.seal(nil, nil, []byte("x")); err != nil {
		t.Fatalf("nonce 2^64-2: %v", err)
	}
	if _, err := c.seal(nil, nil, []byte("x")); !errors.Is(err, errNonceSpent) {
		t.Fatalf("nonce 2^64-1: err = %v, want errNonceSpent", err)
	}
}

func TestSealOpenZeroAllocs(t *testing.T) {
	for _, c := range []Cipher{ChaChaPoly, AESGCM} {
		t.Run(c.String(), func(t *testing.T) { sealOpenZeroAllocs(t, c) })
	}
}

// pairRunning returns the two ends of a handshake that agreed on c.
func pairRunning(t *testing.T, c Cipher) (a, b *Session) {
	t.Helper()
	list := []Cipher{ChaChaPoly}
	if c == AESGCM {
		list = []Cipher{AESGCM, ChaChaPoly}
	}
	a, b, _, _ = pairCiphers(t, list, list)
	if a.Cipher != c {
		t.Fatalf("ran %v", a.Cipher)
	}
	return a, b
}

func sealOpenZeroAllocs(t *testing.T, c Cipher) {
	a, b := pairRunning(t, c)
	plain := codec.Append(nil, codec.Frame{Kind: codec.KindRequest, ID: 9, Payload: make([]byte, 4096)})
	sealed := make([]byte, 0, len(plain)+Overhead)
	allocs := testing.AllocsPerRun(100, func() {
		var err error
		sealed, err = a.SealFrames(sealed[:0], plain)
		if err != nil {
			t.Fatal(err)
		}
		f, _, err := codec.Decode(sealed, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Open(&f); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("seal + open: %v allocs, want 0", allocs)
	}
}

// ReleaseIdle drops only directions unused since its last call, and a
// released direction seals and opens on, its nonces continuing, once its
// cipher is rebuilt from the key.
func TestReleaseIdle(t *testing.T) {
	for _, c := range []Cipher{ChaChaPoly, AESGCM} {
		t.Run(c.String(), func(t *testing.T) {
			a, b := pairRunning(t, c)
			roundTrip := func(from, to *Session, id uint64) {
				t.Helper()
				sealed, err := from.AppendSealed(nil, codec.KindRequest, 0, 0, id, []byte("payload"))
				if err != nil {
					t.Fatal(err)
				}
				f, _, err := codec.Decode(sealed, 0)
				if err != nil {
					t.Fatal(err)
				}
				if err := to.Open(&f); err != nil || string(f.Payload) != "payload" || f.ID != id {
					t.Fatalf("frame %d: %q, %v", id, f.Payload, err)
				}
			}
			roundTrip(a, b, 1)
			if a.ReleaseIdle() || b.ReleaseIdle() {
				t.Fatal("released a session used since the last call")
			}
			if a.send.aead.Load() == nil || b.recv.aead.Load() == nil {
				t.Fatal("a used direction lost its cipher")
			}
			roundTrip(b, a, 2) // a's send and b's recv stay idle
			if a.ReleaseIdle() || b.ReleaseIdle() {
				t.Fatal("released a session with one direction in use")
			}
			if a.send.aead.Load() != nil || b.recv.aead.Load() != nil {
				t.Fatal("an idle direction kept its cipher")
			}
			if !a.ReleaseIdle() || !b.ReleaseIdle() {
				t.Fatal("an idle session not released")
			}
			for id := uint64(3); id < 6; id++ {
				roundTrip(a, b, id)
				roundTrip(b, a, id)
			}
			if a.send.n != 4 || a.recv.n != 4 || b.send.n != 4 || b.recv.n != 4 {
				t.Fatalf("nonces %d %d %d %d, want 4 each", a.send.n, a.recv.n, b.send.n, b.recv.n)
			}
			a.ReleaseIdle()
			b.ReleaseIdle()
			if !a.ReleaseIdle() || !b.ReleaseIdle() {
				t.Fatal("an idle session not released")
			}
			// Keepalives go through without bringing the ciphers back.
			for _, k := range []codec.Kind{codec.KindPing, codec.KindPong} {
				sealed, err := a.AppendSealed(nil, k, 0, 0, 7, nil)
				if err != nil {
					t.Fatal(err)
				}
				f, _, err := codec.Decode(sealed, 0)
				if err != nil {
					t.Fatal(err)
				}
				if err := b.Open(&f); err != nil || f.Kind != k {
					t.Fatalf("%s: %v", k, err)
				}
			}
			if !a.Released() || !b.Released() || !a.ReleaseIdle() || !b.ReleaseIdle() {
				t.Fatal("keepalives kept a cipher")
			}
			roundTrip(a, b, 8)
			if a.Released() || b.Released() {
				t.Fatal("a request left its direction released")
			}
		})
	}
}
