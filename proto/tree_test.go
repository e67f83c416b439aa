package proto

import (
	"errors"
	"testing"
)

func TestTreeMessagesRoundTrip(t *testing.T) {
	haves := []Have{{ID: 1, TTL: 0}, {ID: 1<<64 - 1, TTL: 255}}
	b := AppendIHave(nil, haves)
	if len(b) != IHaveSize(2) {
		t.Fatalf("ihave of 2 is %d bytes, want %d", len(b), IHaveSize(2))
	}
	got, err := ParseIHave(nil, b)
	if err != nil || len(got) != 2 || got[0] != haves[0] || got[1] != haves[1] {
		t.Fatalf("ParseIHave = %v, %v", got, err)
	}
	ids := []uint64{7, 8, 9}
	g, err := ParseGraft(nil, AppendGraft(nil, ids))
	if err != nil || len(g) != 3 || g[2] != 9 {
		t.Fatalf("ParseGraft = %v, %v", g, err)
	}
	scratch := make([]uint64, 0, MaxTreeIDs)
	full := AppendGraft(nil, make([]uint64, MaxTreeIDs))
	if a := testing.AllocsPerRun(100, func() { _, _ = ParseGraft(scratch, full) }); a != 0 {
		t.Fatalf("ParseGraft into room allocates %v times", a)
	}
}

func TestTreeMessagesMalformed(t *testing.T) {
	for _, b := range [][]byte{
		nil, {0}, {65}, {1}, {1, 0, 0, 0, 0, 0, 0, 0, 0}, // ihave entries are 9 bytes: this is a graft's
		append(AppendIHave(nil, []Have{{ID: 1}}), 0),
	} {
		if _, err := ParseIHave(nil, b); !errors.Is(err, ErrBadTree) {
			t.Errorf("ParseIHave(% x) = %v, want ErrBadTree", b, err)
		}
	}
	for _, b := range [][]byte{nil, {0}, {2, 0, 0, 0, 0, 0, 0, 0, 1}, append(AppendGraft(nil, []uint64{1}), 9)} {
		if _, err := ParseGraft(nil, b); !errors.Is(err, ErrBadTree) {
			t.Errorf("ParseGraft(% x) = %v, want ErrBadTree", b, err)
		}
	}
	if err := ParsePrune([]byte{1}); !errors.Is(err, ErrBadTree) {
		t.Errorf("ParsePrune of 1 byte = %v", err)
	}
	if err := ParsePrune(nil); err != nil {
		t.Errorf("ParsePrune(empty) = %v", err)
	}
}

// FuzzParseTree: whatever the bytes, ihave and graft parse without panic,
// either whole (and re-encode to the same bytes) or with ErrBadTree.
func FuzzParseTree(f *testing.F) {
	f.Add(AppendIHave(nil, []Have{{ID: 5, TTL: 2}}))
	f.Add(AppendGraft(nil, []uint64{5, 6}))
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if h, err := ParseIHave(nil, b); err == nil {
			if again := AppendIHave(nil, h); string(again) != string(b) {
				t.Fatalf("ihave % x re-encodes as % x", b, again)
			}
		} else if !errors.Is(err, ErrBadTree) {
			t.Fatalf("ParseIHave error %v is not ErrBadTree", err)
		}
		if g, err := ParseGraft(nil, b); err == nil {
			if again := AppendGraft(nil, g); string(again) != string(b) {
				t.Fatalf("graft % x re-encodes as % x", b, again)
			}
		} else if !errors.Is(err, ErrBadTree) {
			t.Fatalf("ParseGraft error %v is not ErrBadTree", err)
		}
	})
}
