package route_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/antnet-p2p/antnet/proto"
	"github.com/antnet-p2p/antnet/route"
)

// universe returns n peer IDs over a few shared names, so bare names are
// often ambiguous. The name for an address never changes.
func universe(n int) []proto.PeerID {
	names := []string{"ant", "bee", "cat", "dog"}
	ids := make([]proto.PeerID, n)
	for i := range ids {
		ids[i] = proto.PeerID{Name: names[i%len(names)], Addr: fmt.Sprintf("10.0.%d.%d:7000", i/250, i%250)}
	}
	return ids
}

// checkSnapshot checks what must hold for any All() result, even mid-write.
func checkSnapshot(all []*fakeEntry, max int) error {
	if len(all) > max {
		return fmt.Errorf("All has %d entries, more than the %d possible", len(all), max)
	}
	for i, e := range all {
		if e == nil {
			return fmt.Errorf("All[%d] is nil", i)
		}
		if i > 0 && all[i-1].ID.Addr >= e.ID.Addr {
			return fmt.Errorf("All not strictly sorted at %d: %s, %s", i, all[i-1].ID.Addr, e.ID.Addr)
		}
	}
	return nil
}

func TestConcurrentAccess(t *testing.T) {
	ids := universe(40)
	tb := route.New[fakeLink](local, 1)
	const (
		writers    = 4
		readers    = 4
		writeIters = 3000
		readIters  = 3000
	)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := range writeIters {
				p := ids[rng.IntN(len(ids))]
				switch rng.IntN(5) {
				case 0, 1:
					e, err := tb.Add(p)
					if err != nil || e.ID != p {
						t.Errorf("Add(%s) = %v, %v", p, e, err)
					}
				case 2:
					key := p.String()
					if rng.IntN(2) == 0 {
						key = p.Addr
					}
					if e, err := tb.Delete(key); err == nil && e.ID != p {
						t.Errorf("Delete(%s) removed %s", key, e.ID)
					} else if err != nil && !errors.Is(err, route.ErrNoRoute) {
						t.Errorf("Delete(%s) = %v", key, err)
					}
				case 3:
					if e := tb.Get(p.Addr); e != nil {
						l := &fakeLink{name: fmt.Sprint(w, i), outbound: rng.IntN(2) == 0}
						kept, dropped := tb.Attach(e, l)
						if kept == nil || (kept != l && dropped != l) || (dropped != nil && dropped == kept) {
							t.Errorf("Attach = %v, %v for %v", kept, dropped, l)
						}
					}
				case 4:
					if e := tb.Get(p.Addr); e != nil {
						if l := e.Link(); l != nil {
							tb.Detach(e, l) // may lose to another writer
						}
					}
				}
			}
		})
	}
	for r := range readers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 2))
			for range readIters {
				p := ids[rng.IntN(len(ids))]
				if e := tb.Get(p.Addr); e != nil && e.ID != p {
					t.Errorf("Get(%s) = %s", p.Addr, e.ID)
				}
				for _, key := range []string{p.String(), p.Addr, p.Name} {
					e, err := tb.Lookup(key)
					switch {
					case err == nil:
						if e.ID.String() != key && e.ID.Addr != key && e.ID.Name != key {
							t.Errorf("Lookup(%s) = %s", key, e.ID)
						}
					case errors.Is(err, route.ErrNoRoute):
					case errors.Is(err, route.ErrAmbiguous) && key == p.Name:
					default:
						t.Errorf("Lookup(%s) = %v", key, err)
					}
				}
				if err := checkSnapshot(tb.All(), len(ids)); err != nil {
					t.Error(err)
				}
				if n := tb.Len(); n < 0 || n > len(ids) {
					t.Errorf("Len = %d", n)
				}
				if e := tb.Get(p.Addr); e != nil {
					_ = e.Link()
				}
			}
		})
	}
	wg.Wait()

	// Quiescent: every view agrees.
	all := tb.All()
	if err := checkSnapshot(all, len(ids)); err != nil {
		t.Fatal(err)
	}
	if tb.Len() != len(all) {
		t.Fatalf("Len = %d, len(All) = %d", tb.Len(), len(all))
	}
	present := map[string]*fakeEntry{}
	byName := map[string]int{}
	for _, e := range all {
		present[e.ID.Addr] = e
		byName[e.ID.Name]++
		if got, err := tb.Lookup(e.ID.String()); got != e || err != nil {
			t.Errorf("Lookup(%s) = %v, %v", e.ID, got, err)
		}
	}
	for _, p := range ids {
		if got := tb.Get(p.Addr); got != present[p.Addr] {
			t.Errorf("Get(%s) = %v, All has %v", p.Addr, got, present[p.Addr])
		}
	}
	for _, name := range []string{"ant", "bee", "cat", "dog"} {
		e, err := tb.Lookup(name)
		switch n := byName[name]; {
		case n == 0 && !errors.Is(err, route.ErrNoRoute),
			n == 1 && (err != nil || e.ID.Name != name),
			n > 1 && !errors.Is(err, route.ErrAmbiguous):
			t.Errorf("Lookup(%s) with %d entries = %v, %v", name, n, e, err)
		}
	}
}

func benchTable(b *testing.B, n int) (*fakeTable, []proto.PeerID) {
	ids := make([]proto.PeerID, n)
	tb := route.New[fakeLink](local, 1)
	for i := range ids {
		ids[i] = proto.PeerID{Name: fmt.Sprintf("peer%d", i), Addr: fmt.Sprintf("10.%d.%d.1:7000", i/256, i%256)}
		if _, err := tb.Add(ids[i]); err != nil {
			b.Fatal(err)
		}
	}
	tb.All()
	return tb, ids
}

func BenchmarkLookupParallel(b *testing.B) {
	tb, ids := benchTable(b, 1000)
	keys := map[string][]string{}
	for _, p := range ids {
		keys["id"] = append(keys["id"], p.String())
		keys["addr"] = append(keys["addr"], p.Addr)
		keys["name"] = append(keys["name"], p.Name)
	}
	for _, kind := range []string{"id", "addr", "name"} {
		b.Run(kind, func(b *testing.B) {
			ks := keys[kind]
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if _, err := tb.Lookup(ks[i%len(ks)]); err != nil {
						b.Error(err)
						return
					}
					i++
				}
			})
		})
	}
}

func BenchmarkAll(b *testing.B) {
	tb, ids := benchTable(b, 1000)
	b.ReportAllocs()
	for b.Loop() {
		if len(tb.All()) != len(ids) {
			b.Fatal("short All")
		}
	}
}

func BenchmarkAllParallel(b *testing.B) {
	tb, ids := benchTable(b, 1000)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if len(tb.All()) != len(ids) {
				b.Error("short All")
				return
			}
		}
	})
}
