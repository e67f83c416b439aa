package proto_test

import (
	"bytes"
	"testing"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/internal/protodoc"
	"github.com/antnet-p2p/antnet/proto"
)

// protocolDumps returns the byte examples of docs/PROTOCOL.md.
func protocolDumps(t *testing.T) [][]byte {
	t.Helper()
	dumps, err := protodoc.Dumps("../docs/PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	return dumps
}

// Every byte example in docs/PROTOCOL.md decodes into whole frames with the
// codec, each payload parses as its kind says, and re-encoding the parsed
// values gives back exactly the documented bytes.
func TestProtocolDocExamples(t *testing.T) {
	dumps := protocolDumps(t)
	if len(dumps) < 6 {
		t.Fatalf("found %d byte examples in PROTOCOL.md, want at least 6", len(dumps))
	}
	kinds := map[codec.Kind]int{}
	for i, b := range dumps {
		rest := b
		for len(rest) > 0 {
			f, n, err := codec.Decode(rest, codec.DefaultMaxFrameSize)
			if err != nil {
				t.Fatalf("example %d: %v (% x)", i, err, rest)
			}
			if n == 0 {
				t.Fatalf("example %d: incomplete frame: % x", i, rest)
			}
			kinds[f.Kind]++
			again := codec.Append(nil, f)
			if !bytes.Equal(again, rest[:n]) {
				t.Fatalf("example %d: re-encoded frame differs:\n doc % x\n got % x", i, rest[:n], again)
			}
			checkPayload(t, i, f)
			rest = rest[n:]
		}
	}
	for _, k := range []codec.Kind{codec.KindHello, codec.KindHelloAck, codec.KindRequest,
		codec.KindResponse, codec.KindError, codec.KindGossip, codec.KindPing, codec.KindGoaway,
		codec.KindPrune, codec.KindIHave, codec.KindGraft} {
		if kinds[k] == 0 {
			t.Errorf("PROTOCOL.md has no byte example of a %s frame", k)
		}
	}
}

// docPeers are the peers PROTOCOL.md's examples are written for, with their
// nonces.
var docPeers = map[string]uint64{
	"alice@127.0.0.1:7001": 0x0123456789abcdef,
	"bob@127.0.0.1:7002":   0xfedcba9876543210,
}

// checkPayload parses f's payload as its kind defines and re-encodes it.
func checkPayload(t *testing.T, i int, f codec.Frame) {
	t.Helper()
	var again []byte
	switch f.Kind {
	case codec.KindHello, codec.KindHelloAck:
		h, err := proto.ParseHello(f.Payload)
		if err != nil {
			t.Fatalf("example %d: %s: %v", i, f.Kind, err)
		}
		if want, ok := docPeers[h.ID.String()]; !ok || want != h.Nonce {
			t.Fatalf("example %d: hello from %s nonce %#x: the text names alice and bob with their nonces", i, h.ID, h.Nonce)
		}
		again = proto.AppendHello(nil, h)
	case codec.KindGossip:
		origin, body, err := proto.ParseGossip(f.Payload)
		if err != nil {
			t.Fatalf("example %d: gossip: %v", i, err)
		}
		id, err := proto.ParsePeerID(string(origin))
		if err != nil {
			t.Fatalf("example %d: gossip origin: %v", i, err)
		}
		if _, ok := docPeers[id.String()]; !ok {
			t.Fatalf("example %d: gossip origin %s is not a peer of the text", i, id)
		}
		if f.Flags&proto.FlagStamped != 0 {
			if _, rest, err := proto.CutStamp(body); err != nil || string(rest) != "hi" {
				t.Fatalf("example %d: stamped gossip: %q %v", i, rest, err)
			}
		}
		again = proto.AppendGossip(nil, id, body)
	case codec.KindError:
		re := proto.ParseError(proto.PeerID{}, f.Payload)
		again = proto.AppendError(nil, re.Code, re.Message)
	case codec.KindPing, codec.KindPong:
		again = []byte{}
	case codec.KindPrune:
		if err := proto.ParsePrune(f.Payload); err != nil {
			t.Fatalf("example %d: %v", i, err)
		}
		again = []byte{}
	case codec.KindIHave:
		haves, err := proto.ParseIHave(nil, f.Payload)
		if err != nil {
			t.Fatalf("example %d: %v", i, err)
		}
		again = proto.AppendIHave(nil, haves)
	case codec.KindGraft:
		ids, err := proto.ParseGraft(nil, f.Payload)
		if err != nil {
			t.Fatalf("example %d: %v", i, err)
		}
		again = proto.AppendGraft(nil, ids)
	case codec.KindGoaway:
		// Empty, or one reason byte this version defines.
		if len(f.Payload) > 1 || len(f.Payload) == 1 && f.Payload[0] != proto.GoawayTooManyLinks && f.Payload[0] != proto.GoawayClosing {
			t.Fatalf("example %d: goaway payload % x: want empty or one known reason", i, f.Payload)
		}
		again = f.Payload
	case codec.KindSecure:
		// A Noise message (package secure replays them): at least an
		// ephemeral or encrypted static key; flags name a cipher, 1 or 2.
		if len(f.Payload) < 32 || f.Flags > 2 {
			t.Fatalf("example %d: secure frame, flags %d, %d bytes", i, f.Flags, len(f.Payload))
		}
		again = f.Payload
	default:
		again = f.Payload
	}
	if !bytes.Equal(again, f.Payload) {
		t.Fatalf("example %d: %s payload re-encodes differently:\n doc % x\n got % x", i, f.Kind, f.Payload, again)
	}
}
