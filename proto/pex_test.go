package proto

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestPexRoundTrip(t *testing.T) {
	ids := []PeerID{
		{Name: "luda", Addr: "127.0.0.1:12345"},
		{Name: "kefir", Addr: "[::1]:7", Key: strings.Repeat("k", 32)},
	}
	got, err := ParsePexResponse(AppendPexResponse(nil, ids), 32)
	if err != nil || !reflect.DeepEqual(got, ids) {
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
	if got, err := ParsePexResponse(b, 32); err != nil || len(got) != MaxPexAddrs {
		t.Fatalf("%d %v", len(got), err)
	}
	b[0] = 40
	if _, err := ParsePexResponse(b, 32); !errors.Is(err, ErrBadPex) {
		t.Fatalf("40 entries: %v", err)
	}
}

func TestPexRejects(t *testing.T) {
	good := AppendPexResponse(nil, []PeerID{{Name: "a", Addr: "127.0.0.1:1"}})
	for name, b := range map[string][]byte{
		"empty":     {},
		"truncated": good[:len(good)-1],
		"trailing":  append(append([]byte{}, good...), 0),
		"bad addr":  AppendPexResponse(nil, []PeerID{{Name: "a", Addr: "nohost"}}),
		"short key": AppendPexResponse(nil, []PeerID{{Name: "a", Addr: "127.0.0.1:1", Key: "short"}}),
	} {
		if _, err := ParsePexResponse(b, 32); !errors.Is(err, ErrBadPex) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := ParsePexRequest([]byte{1, 2}); !errors.Is(err, ErrBadPex) {
		t.Fatalf("long request: %v", err)
	}
}
