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

// docExample is PROTOCOL.md's handshake example, run: the three Noise
// messages, alice's Session as this package builds it, and bob's two
// cipher states as a plain Noise implementation of the text splits them
// (initiator to responder, responder to initiator).
type docExample struct {
	m1, m2, m3       []byte
	alice            *Session
	bobRecv, bobSend *noise.CipherState
}

// docHandshake runs the example: alice (this package) dials with the
// cipher list 02 01, bob (a plain Noise implementation of the text: the
// dialer's cipher list hashed as the first payload, the choice read from
// the frame's flags) chooses AES-GCM.
func docHandshake(t *testing.T) docExample {
	t.Helper()
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
	_, c1, c2, err := acceptor.ReadMessage(nil, m3)
	if err != nil || c1 == nil {
		t.Fatalf("acceptor: %v", err)
	}
	return docExample{m1: m1, m2: m2, m3: m3, alice: s, bobRecv: c1, bobSend: c2}
}

// PROTOCOL.md's handshake example is what this package sends, from the
// keys the text gives, and its acceptor is a plain Noise implementation of
// the text.
func TestHandshakeDocExample(t *testing.T) {
	ex := docHandshake(t)
	dumps, err := protodoc.Dumps("../docs/PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range []codec.Frame{
		{Kind: codec.KindSecure, Payload: ex.m1},
		{Kind: codec.KindSecure, Flags: uint8(AESGCM), Payload: ex.m2},
		{Kind: codec.KindSecure, Payload: ex.m3},
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
