package proto

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestPexRoundTrip(t *testing.T) {
	plain := []PeerID{{Name: "luda", Addr: "127.0.0.1:12345"}}
	got, err := ParsePexResponse(AppendPexResponse(nil, plain), 0)
	if err != nil || !reflect.DeepEqual(got, plain) {
		t.Fatalf("%v %v", got, err)
	}
	keyed := []PeerID{{Name: "kefir", Addr: "[::1]:7", Key: strings.Repeat("k", 32)}}
	got, err = ParsePexResponse(AppendPexResponse(nil, keyed), 32)
	if err != nil || !reflect.DeepEqual(got, keyed) {
		t.Fatalf("%v %v", got, err)
	}
	if n, err := ParsePexRequest(AppendPexRequest(nil, 500)); n != MaxPexAddrs || err != nil {
		t.Fatalf("want 500: %d %v", n, err)
	}
	// At most MaxPexAddrs are written, and a longer list is refused.
	var many []PeerID
	for i := range 40 {
		many = append(many, PeerID{Name: "p", Addr: fmt.Sprintf("127.0.0.1:%d", i+1)})
	}
	b := AppendPexResponse(nil, many)
	if got, err := ParsePexResponse(b, 0); err != nil || len(got) != MaxPexAddrs {
		t.Fatalf("%d %v", len(got), err)
	}
	b[0] = 40
	if _, err := ParsePexResponse(b, 0); !errors.Is(err, ErrBadPex) {
		t.Fatalf("40 entries: %v", err)
	}
}

func TestPexRejects(t *testing.T) {
	good := AppendPexResponse(nil, []PeerID{{Name: "a", Addr: "127.0.0.1:1"}})
	for name, b := range map[string][]byte{
		"empty":                  {},
		"truncated":              good[:len(good)-1],
		"trailing":               append(append([]byte{}, good...), 0),
		"bad addr":               AppendPexResponse(nil, []PeerID{{Name: "a", Addr: "nohost"}}),
		"key on a plain network": AppendPexResponse(nil, []PeerID{{Name: "a", Addr: "127.0.0.1:1", Key: strings.Repeat("k", 32)}}),
	} {
		if _, err := ParsePexResponse(b, 0); !errors.Is(err, ErrBadPex) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// On a secure network every entry carries a 32-byte key: an empty or
	// short one refuses the whole answer.
	key := strings.Repeat("k", 32)
	for name, short := range map[string]string{"no key": "", "short key": "short"} {
		b := AppendPexResponse(nil, []PeerID{{Name: "a", Addr: "127.0.0.1:1", Key: key}, {Name: "b", Addr: "127.0.0.1:2", Key: short}})
		if _, err := ParsePexResponse(b, 32); !errors.Is(err, ErrBadPex) {
			t.Errorf("secure, %s: %v", name, err)
		}
	}
	if _, err := ParsePexRequest([]byte{1, 2}); !errors.Is(err, ErrBadPex) {
		t.Fatalf("long request: %v", err)
	}
}
