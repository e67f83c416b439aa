package secure

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/internal/protodoc"
	"github.com/antnet-p2p/antnet/proto"
)

// PROTOCOL.md's sealed frames (the blocks tagged "sealed") are what this
// package seals after the handshake example: alice's hello, bob's
// hello-ack and alice's first ping, in that order. Bob's side is a plain
// Noise implementation of the text (the header as associated data, the
// frame count as nonce), so the text and the package agree both ways.
func TestSealedDocExample(t *testing.T) {
	ex := docHandshake(t)
	alice, bobRecv, bobSend := ex.alice, ex.bobRecv, ex.bobSend
	hello := func(id string, nonce uint64) []byte {
		p, _ := proto.ParsePeerID(id)
		return proto.AppendHello(nil, proto.Hello{ID: p, Nonce: nonce})
	}
	// bobSeal seals as bob, from the text: header (grown by the tag) as
	// associated data.
	bobSeal := func(f codec.Frame) []byte {
		hdr := codec.AppendHeader(nil, f.Kind, f.Flags, f.TTL, f.ID, len(f.Payload)+Overhead)
		out, err := bobSend.Encrypt(append([]byte(nil), hdr...), hdr, f.Payload)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	// bobOpen opens a frame alice sealed and returns its plain payload.
	bobOpen := func(frame []byte) []byte {
		plain, err := bobRecv.Decrypt(nil, frame[:codec.HeaderSize], frame[codec.HeaderSize:])
		if err != nil {
			t.Fatalf("bob cannot open % x: %v", frame, err)
		}
		return plain
	}

	aliceHello, err := alice.AppendSealed(nil, codec.KindHello, 0, 0, 0, hello("alice@127.0.0.1:7001", 0x0123456789abcdef))
	if err != nil {
		t.Fatal(err)
	}
	if got := bobOpen(aliceHello); !bytes.Equal(got, hello("alice@127.0.0.1:7001", 0x0123456789abcdef)) {
		t.Fatalf("bob opened alice's hello as % x", got)
	}
	bobAck := bobSeal(codec.Frame{Kind: codec.KindHelloAck, Payload: hello("bob@127.0.0.1:7002", 0xfedcba9876543210)})
	f, n, err := codec.Decode(bytes.Clone(bobAck), 0)
	if err != nil || n != len(bobAck) {
		t.Fatalf("bob's hello-ack: %v", err)
	}
	if err := alice.Open(&f); err != nil || f.Kind != codec.KindHelloAck {
		t.Fatalf("alice cannot open bob's hello-ack: %v", err)
	}
	alicePing, err := alice.AppendSealed(nil, codec.KindPing, 0, 0, 0x17d2a9c3e5b40000, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := bobOpen(alicePing); len(got) != 0 {
		t.Fatalf("bob opened alice's ping as % x", got)
	}
	if len(alicePing) != 32 {
		t.Fatalf("a sealed ping is %d bytes on the wire; PROTOCOL.md says 32", len(alicePing))
	}

	doc, err := protodoc.Tagged("../docs/PROTOCOL.md", "sealed")
	if err != nil {
		t.Fatal(err)
	}
	want := [][]byte{aliceHello, bobAck, alicePing}
	if len(doc) != len(want) {
		t.Fatalf("PROTOCOL.md has %d sealed examples, want %d:\n%s", len(doc), len(want), dumpAll(want))
	}
	for i := range want {
		if !bytes.Equal(doc[i], want[i]) {
			t.Errorf("sealed example %d differs:\n doc % x\n got % x", i+1, doc[i], want[i])
		}
	}
	if t.Failed() {
		t.Logf("the sealed frames:\n%s", dumpAll(want))
	}
}

// dumpAll prints frames as PROTOCOL.md's hex dumps.
func dumpAll(frames [][]byte) string {
	var b strings.Builder
	for _, f := range frames {
		b.WriteString("```sealed\n")
		for off := 0; off < len(f); off += 16 {
			line := f[off:min(off+16, len(f))]
			h := hex.EncodeToString(line)
			var parts []string
			for i := 0; i < len(h); i += 2 {
				parts = append(parts, h[i:i+2])
			}
			fmt.Fprintf(&b, "%04x  %s\n", off, strings.Join(parts, " "))
		}
		b.WriteString("```\n")
	}
	return b.String()
}
