package proto_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/proto"
)

// Fuzz targets for the payload parsers the engine runs on bytes from the
// network. FuzzParseHello and FuzzPeerIDRoundTrip live next to their unit
// tests; .ci/fuzz runs every target for a few seconds.

// allocs returns how many allocations one call of f makes: the mean over
// 10 calls, rounded down, so that a stray allocation by another goroutine
// of the fuzz worker during the count does not fail the target.
func allocs(f func()) float64 { return testing.AllocsPerRun(10, f) }

// Invariant: a pex-request is exactly one byte, read as min(want, 32);
// anything else is ErrBadPex. An accepted request re-encodes to its input
// when want <= 32, and parsing allocates nothing.
func FuzzParsePexRequest(f *testing.F) {
	f.Add(proto.AppendPexRequest(nil, 32))
	f.Add([]byte{0})
	f.Add([]byte{255})
	f.Add([]byte{})
	f.Add([]byte{1, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		want, err := proto.ParsePexRequest(b)
		if err != nil {
			if !errors.Is(err, proto.ErrBadPex) || len(b) == 1 {
				t.Fatalf("ParsePexRequest(%x) = %v, want ErrBadPex for a payload that is not 1 byte", b, err)
			}
			return
		}
		if len(b) != 1 || want != min(int(b[0]), proto.MaxPexAddrs) {
			t.Fatalf("ParsePexRequest(%x) = %d", b, want)
		}
		enc := proto.AppendPexRequest(nil, want)
		if b[0] <= proto.MaxPexAddrs && !bytes.Equal(enc, b) {
			t.Fatalf("want %d re-encodes to %x, parsed from %x", want, enc, b)
		}
		if again, err := proto.ParsePexRequest(enc); err != nil || again != want {
			t.Fatalf("round trip: %d %v, want %d", again, err, want)
		}
		if a := allocs(func() { _, _ = proto.ParsePexRequest(b) }); a != 0 {
			t.Fatalf("ParsePexRequest allocated %v times", a)
		}
	})
}

// Invariant: a pex-response error matches ErrBadPex; an accepted one holds
// at most MaxPexAddrs valid IDs whose keys are empty or keySize bytes,
// re-encodes to exactly its input, and parses again to the same IDs.
// Parsing allocates at most the slice and three strings per entry.
func FuzzParsePexResponse(f *testing.F) {
	key := string(bytes.Repeat([]byte{7}, 32))
	f.Add(proto.AppendPexResponse(nil, []proto.PeerID{{Name: "a", Addr: "127.0.0.1:1"}}))
	f.Add(proto.AppendPexResponse(nil, []proto.PeerID{{Name: "a", Addr: "[::1]:9", Key: key}, {Name: "b#c", Addr: "h:65535"}}))
	f.Add([]byte{0})
	f.Add([]byte{33})
	f.Fuzz(func(t *testing.T, b []byte) {
		ids, err := proto.ParsePexResponse(b, 32)
		if err != nil {
			if !errors.Is(err, proto.ErrBadPex) {
				t.Fatalf("error %v is not ErrBadPex", err)
			}
			return
		}
		if len(ids) > proto.MaxPexAddrs {
			t.Fatalf("%d entries, at most %d", len(ids), proto.MaxPexAddrs)
		}
		for _, id := range ids {
			if err := id.Validate(); err != nil || (len(id.Key) != 0 && len(id.Key) != 32) {
				t.Fatalf("accepted %+v: %v", id, err)
			}
		}
		enc := proto.AppendPexResponse(nil, ids)
		if !bytes.Equal(enc, b) {
			t.Fatalf("re-encoded %x, parsed from %x", enc, b)
		}
		again, err := proto.ParsePexResponse(enc, 32)
		if err != nil || len(again) != len(ids) {
			t.Fatalf("round trip: %v %v", again, err)
		}
		for i := range ids {
			if again[i] != ids[i] {
				t.Fatalf("round trip entry %d: %+v, want %+v", i, again[i], ids[i])
			}
		}
		if a := allocs(func() { _, _ = proto.ParsePexResponse(b, 32) }); a > float64(1+3*len(ids)) {
			t.Fatalf("ParsePexResponse allocated %v times for %d entries", a, len(ids))
		}
	})
}

// Invariant: a gossip error matches ErrBadGossip; an accepted payload's
// origin aliases the input, parses as a peer ID that prints back to the
// same bytes, and origin plus body re-encode to exactly the input, without
// an allocation. With stamped set the body then goes through CutStamp: an
// error (ErrBadGossip) only for fewer than 8 bytes, and the stamp and rest
// re-encode (AppendGossipStamped) to exactly the input, without an
// allocation.
func FuzzParseGossip(f *testing.F) {
	alice := proto.PeerID{Name: "alice", Addr: "127.0.0.1:7001"}
	f.Add(proto.AppendGossip(nil, alice, []byte("hi")), false)
	f.Add(proto.AppendGossipStamped(nil, alice, time.Unix(1_800_000_000, 5), []byte("hi")), true)
	f.Add(proto.AppendGossip(nil, proto.PeerID{Name: "v6", Addr: "[::1]:1"}, nil), true)
	f.Add(append(binary.BigEndian.AppendUint16(nil, 4), "junkbody"...), false)
	f.Add([]byte{0, 0}, false)
	f.Add([]byte{0xff, 0xff, 'a'}, true)
	f.Fuzz(func(t *testing.T, b []byte, stamped bool) {
		origin, body, err := proto.ParseGossip(b)
		if err != nil {
			if !errors.Is(err, proto.ErrBadGossip) {
				t.Fatalf("error %v is not ErrBadGossip", err)
			}
			return
		}
		if len(origin) < 3 || len(b) < 2+len(origin) || &origin[0] != &b[2] {
			t.Fatalf("origin %q does not alias the payload's bytes 2..", origin)
		}
		id, err := proto.ParsePeerID(string(origin))
		if err != nil || id.String() != string(origin) {
			t.Fatalf("accepted origin %q: ParsePeerID = %+v, %v", origin, id, err)
		}
		if enc := proto.AppendGossip(nil, id, body); !bytes.Equal(enc, b) {
			t.Fatalf("re-encoded %x, parsed from %x", enc, b)
		}
		if a := allocs(func() { _, _, _ = proto.ParseGossip(b) }); a != 0 {
			t.Fatalf("ParseGossip allocated %v times", a)
		}
		if !stamped {
			return
		}
		sent, rest, err := proto.CutStamp(body)
		if err != nil {
			if !errors.Is(err, proto.ErrBadGossip) || len(body) >= 8 {
				t.Fatalf("CutStamp(%d bytes) = %v", len(body), err)
			}
			return
		}
		if enc := proto.AppendGossipStamped(nil, id, sent, rest); !bytes.Equal(enc, b) {
			t.Fatalf("stamped re-encoded %x, parsed from %x", enc, b)
		}
		if a := allocs(func() { _, _, _ = proto.CutStamp(body) }); a != 0 {
			t.Fatalf("CutStamp allocated %v times", a)
		}
	})
}

// Invariant: ParseError never fails: every payload gives a RemoteError
// from the given peer that matches ErrRemote, matches exactly the sentinel
// of its code (PROTOCOL.md's code table) and no other, and keeps no
// reference to the payload. A non-empty payload re-encodes to exactly the
// input; an empty one reads as code 1, "empty error". At most two
// allocations: the error and its message.
func FuzzParseError(f *testing.F) {
	f.Add(proto.AppendError(nil, proto.CodeUnsupported, "no handler"))
	f.Add(proto.AppendError(nil, proto.CodeTooLarge, ""))
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xfe})
	peer := proto.PeerID{Name: "bob", Addr: "127.0.0.1:7002"}
	sentinels := map[proto.Code]error{
		proto.CodePanic:       proto.ErrHandlerPanic,
		proto.CodeUnsupported: proto.ErrUnsupported,
		proto.CodeShutdown:    proto.ErrRemoteShutdown,
		proto.CodeBusy:        proto.ErrRemoteBusy,
		proto.CodeTooLarge:    codec.ErrFrameTooLarge,
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		e := proto.ParseError(peer, in)
		if e == nil || e.Peer != peer || !errors.Is(e, proto.ErrRemote) {
			t.Fatalf("ParseError(%x) = %+v", b, e)
		}
		for code, s := range sentinels {
			if errors.Is(e, s) != (e.Code == code) {
				t.Fatalf("code %d: errors.Is(%v) = %v", e.Code, s, !(e.Code == code))
			}
		}
		if len(b) == 0 {
			if e.Code != proto.CodeHandler || e.Message != "empty error" {
				t.Fatalf("empty payload read as %+v", e)
			}
		} else if enc := proto.AppendError(nil, e.Code, e.Message); !bytes.Equal(enc, b) {
			t.Fatalf("re-encoded %x, parsed from %x", enc, b)
		}
		msg := e.Message
		for i := range in {
			in[i] ^= 0xff // the frame buffer is reused once the handler returns
		}
		if e.Message != msg || (len(b) > 0 && e.Message != string(b[1:])) {
			t.Fatalf("Message %q changed with the payload: it aliases it", e.Message)
		}
		if a := allocs(func() { _ = proto.ParseError(peer, b) }); a > 2 {
			t.Fatalf("ParseError allocated %v times", a)
		}
	})
}

// Invariant: a goaway payload's reason is 0 when it is empty and its first
// byte otherwise (the rest is ignored), never an error and never an
// allocation; a payload of at most one byte re-encodes (AppendGoaway) to
// exactly the input, except a lone 0 byte, which reads as no reason.
func FuzzGoawayReason(f *testing.F) {
	f.Add([]byte{})
	f.Add(proto.AppendGoaway(nil, proto.GoawayTooManyLinks))
	f.Add([]byte{1, 2, 3})
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := proto.GoawayReason(b)
		if (len(b) == 0 && r != 0) || (len(b) > 0 && r != b[0]) {
			t.Fatalf("GoawayReason(%x) = %d", b, r)
		}
		enc := proto.AppendGoaway(nil, r)
		if proto.GoawayReason(enc) != r {
			t.Fatalf("reason %d re-encodes to %x", r, enc)
		}
		if len(b) <= 1 && !(len(b) == 1 && b[0] == 0) && !bytes.Equal(enc, b) {
			t.Fatalf("re-encoded %x, parsed from %x", enc, b)
		}
		if a := allocs(func() { _ = proto.GoawayReason(b) }); a != 0 {
			t.Fatalf("GoawayReason allocated %v times", a)
		}
	})
}

// Invariant of ParsePeerID and CutFingerprint on any string (a gossip
// origin, an address from a pex-response or a route): an error matches
// ErrBadPeerID; a parsed ID validates and prints back to exactly the
// input; a cut fingerprint is FingerprintLen lower-case hex digits and
// rest + "#" + fingerprint is the input up to the case of its digits,
// and a string without one comes back whole.
func FuzzParsePeerID(f *testing.F) {
	f.Add("alice@127.0.0.1:7001")
	f.Add("a#b@[::1]:80#0123456789ABCDEF")
	f.Add("x@h:9#")
	f.Add("@@")
	f.Fuzz(func(t *testing.T, s string) {
		if id, err := proto.ParsePeerID(s); err != nil {
			if !errors.Is(err, proto.ErrBadPeerID) {
				t.Fatalf("ParsePeerID(%q) = %v, want ErrBadPeerID", s, err)
			}
		} else if id.Validate() != nil || id.String() != s || id.Key != "" {
			t.Fatalf("ParsePeerID(%q) = %+v", s, id)
		}
		rest, fp, err := proto.CutFingerprint(s)
		switch {
		case err != nil:
			if !errors.Is(err, proto.ErrBadPeerID) {
				t.Fatalf("CutFingerprint(%q) = %v, want ErrBadPeerID", s, err)
			}
		case fp == "":
			if rest != s {
				t.Fatalf("CutFingerprint(%q) = %q without a fingerprint", s, rest)
			}
		default:
			if len(fp) != proto.FingerprintLen || strings.ToLower(fp) != fp || !strings.EqualFold(rest+"#"+fp, s) || rest+"#" != s[:len(rest)+1] {
				t.Fatalf("CutFingerprint(%q) = %q, %q", s, rest, fp)
			}
			if _, err := hex.DecodeString(fp); err != nil {
				t.Fatalf("fingerprint %q is not hex", fp)
			}
		}
	})
}
