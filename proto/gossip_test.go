package proto

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"
)

func TestParseGossipChecksOrigin(t *testing.T) {
	good := AppendGossip(nil, PeerID{Name: "luda", Addr: "127.0.0.1:12345"}, []byte("hi"))
	origin, body, err := ParseGossip(good)
	if err != nil || string(origin) != "luda@127.0.0.1:12345" || string(body) != "hi" {
		t.Fatalf("%q %q %v", origin, body, err)
	}
	if a := testing.AllocsPerRun(100, func() { _, _, _ = ParseGossip(good) }); a != 0 {
		t.Fatalf("ParseGossip allocates %v times per call", a)
	}
	for _, junk := range []string{"junk", "@127.0.0.1:1", "a@nohost", "a@127.0.0.1:0", "a@127.0.0.1:99999", "a@[::1]:1@x"} {
		b := binary.BigEndian.AppendUint16(nil, uint16(len(junk)))
		b = append(append(b, junk...), "body"...)
		if _, _, err := ParseGossip(b); !errors.Is(err, ErrBadGossip) {
			t.Errorf("origin %q: %v", junk, err)
		}
	}
}

func TestGossipStamp(t *testing.T) {
	sent := time.Unix(1_800_000_000, 123)
	b := AppendGossipStamped(nil, PeerID{Name: "a", Addr: "127.0.0.1:1"}, sent, []byte("hi"))
	origin, body, err := ParseGossip(b)
	if err != nil || string(origin) != "a@127.0.0.1:1" {
		t.Fatal(origin, err)
	}
	got, rest, err := CutStamp(body)
	if err != nil || !got.Equal(sent) || string(rest) != "hi" {
		t.Fatalf("%v %q %v", got, rest, err)
	}
	if _, _, err := CutStamp([]byte("short")); !errors.Is(err, ErrBadGossip) {
		t.Fatal(err)
	}
}
