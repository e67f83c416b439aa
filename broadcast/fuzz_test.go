package broadcast

import (
	"errors"
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/proto"
)

// FuzzTreeControl feeds a tree arbitrary prune, ihave, graft and gossip
// payloads from a link that speaks trees: it never panics, a refusal is
// ErrBadTree, everything it sends decodes as a frame of a kind it may
// send, and what the link makes it hold stays within the bounds.
func FuzzTreeControl(f *testing.F) {
	f.Add(uint8(codec.KindIHave), proto.AppendIHave(nil, []proto.Have{{ID: 9, TTL: 3}}))
	f.Add(uint8(codec.KindGraft), proto.AppendGraft(nil, []uint64{1}))
	f.Add(uint8(codec.KindPrune), []byte{})
	f.Add(uint8(codec.KindGossip), []byte("payload"))
	f.Fuzz(func(t *testing.T, kind uint8, payload []byte) {
		now := time.Unix(1, 0)
		tr, err := New[int](Config{Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		send := func(l int, frame []byte) bool {
			g, n, err := codec.Decode(frame, codec.DefaultMaxFrameSize)
			if err != nil || n != len(frame) {
				t.Fatalf("sent a bad frame % x: %v", frame, err)
			}
			switch g.Kind {
			case codec.KindGossip, codec.KindPrune, codec.KindIHave, codec.KindGraft:
			default:
				t.Fatalf("sent a %s frame", g.Kind)
			}
			return true
		}
		tr.LinkUp(1, true)
		tr.LinkUp(2, false)
		tr.Originate(send, 1, 0, 4, []byte("cached"))
		for range 3 { // the same input again: a repeat must be as harmless
			switch codec.Kind(kind % 4) {
			case 0:
				err = tr.IHave(send, 1, payload)
			case 1:
				err = tr.Graft(send, 1, payload)
			case 2:
				err = tr.Prune(send, 1, payload)
			default:
				tr.Gossip(send, 1, 0, kind, uint64(len(payload)), payload)
				err = nil
			}
			if err != nil && !errors.Is(err, proto.ErrBadTree) {
				t.Fatalf("error %v is not ErrBadTree", err)
			}
			now = now.Add(time.Second)
			tr.Tick(send)
		}
		if s := tr.Stats(); s.Missing > MaxMissingPerLink || s.Cached > 4 {
			t.Fatalf("one link made the tree hold %d missing ids, %d payloads", s.Missing, s.Cached)
		}
	})
}
