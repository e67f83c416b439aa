package secure

import (
	"bytes"
	"testing"

	"github.com/flynn/noise"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/internal/protodoc"
)

// keyBytes returns the 32 bytes from, from+1, ...: the keys of
// PROTOCOL.md's handshake example.
func keyBytes(from byte) []byte {
	b := make([]byte, 32)
	for i := range b {
		b[i] = from + byte(i)
	}
	return b
}

// PROTOCOL.md's handshake example is what this package sends, from the
// keys the text gives, and its acceptor is a plain Noise implementation of
// the text (the dialer's cipher list hashed as the first payload, the
// choice read from the frame's flags).
func TestHandshakeDocExample(t *testing.T) {
	alice, _ := FromPrivate(keyBytes(0x01))
	bob, _ := FromPrivate(keyBytes(0x41))
	dialer, err := NewHandshakeCiphers(alice, true, []Cipher{AESGCM, ChaChaPoly})
	if err != nil {
		t.Fatal(err)
	}
	copy(dialer.ephemeral[:], keyBytes(0x21))
	m1, err := dialer.Start()
	if err != nil {
		t.Fatal(err)
	}
	acceptor, err := noise.NewHandshakeState(noise.Config{
		CipherSuite: noise.NewCipherSuite(noise.DH25519, noise.CipherAESGCM, noise.HashSHA256),
		Pattern:     noise.HandshakeXX, Prologue: []byte("antnet/1 noise-xx"),
		StaticKeypair: bob.key, Random: fixedReader(keyBytes(0x61)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := acceptor.ReadMessage(nil, m1); err != nil {
		t.Fatal(err)
	}
	m2, _, _, err := acceptor.WriteMessage(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	m3, s, err := dialer.Read(AESGCM, m2)
	if err != nil || s == nil || s.Cipher != AESGCM {
		t.Fatalf("dialer: %v", err)
	}
	if _, _, _, err := acceptor.ReadMessage(nil, m3); err != nil {
		t.Fatal(err)
	}
	dumps, err := protodoc.Dumps("../docs/PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range []codec.Frame{
		{Kind: codec.KindSecure, Payload: m1},
		{Kind: codec.KindSecure, Flags: uint8(AESGCM), Payload: m2},
		{Kind: codec.KindSecure, Payload: m3},
	} {
		want := codec.Append(nil, f)
		found := false
		for _, d := range dumps {
			found = found || bytes.Equal(d, want)
		}
		if !found {
			t.Errorf("message %d is not in PROTOCOL.md:\n% x", i+1, want)
		}
	}
}
