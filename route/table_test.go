package route_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/antnet-p2p/antnet/proto"
	"github.com/antnet-p2p/antnet/route"
)

var local = proto.PeerID{Name: "self", Addr: "10.0.0.100:7000"}

func id(t testing.TB, s string) proto.PeerID {
	t.Helper()
	p, err := proto.ParsePeerID(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// newTable returns a table holding ids.
func newTable(t testing.TB, ids ...string) *fakeTable {
	t.Helper()
	tb := route.New[fakeLink](local, 1)
	for _, s := range ids {
		if _, err := tb.Add(id(t, s)); err != nil {
			t.Fatalf("Add(%s): %v", s, err)
		}
	}
	return tb
}

var peers = []string{
	"alice@10.0.0.1:7000",
	"bob@10.0.0.2:7000",
	"bob@10.0.0.3:7000",
	"x.y@10.0.0.4:7000",
	"carol@[::1]:7000",
}

func TestLookup(t *testing.T) {
	tb := newTable(t, peers...)
	tests := []struct {
		key     string
		want    string // full ID of the expected entry
		wantErr error
	}{
		{key: "alice@10.0.0.1:7000", want: "alice@10.0.0.1:7000"},
		{key: "10.0.0.1:7000", want: "alice@10.0.0.1:7000"},
		{key: "alice", want: "alice@10.0.0.1:7000"},
		{key: "bob@10.0.0.3:7000", want: "bob@10.0.0.3:7000"},
		{key: "10.0.0.2:7000", want: "bob@10.0.0.2:7000"},
		{key: "x.y@10.0.0.4:7000", want: "x.y@10.0.0.4:7000"},
		{key: "[::1]:7000", want: "carol@[::1]:7000"},
		{key: "carol", want: "carol@[::1]:7000"},
		{key: "bob", wantErr: route.ErrAmbiguous},
		{key: "alice@10.0.0.2:7000", wantErr: route.ErrNoRoute}, // right addr, wrong name
		{key: "bob@10.0.0.1:7000", wantErr: route.ErrNoRoute},
		{key: "alice@10.0.0.9:7000", wantErr: route.ErrNoRoute},
		{key: "10.0.0.9:7000", wantErr: route.ErrNoRoute},
		{key: "dave", wantErr: route.ErrNoRoute},
		{key: "Alice", wantErr: route.ErrNoRoute},
		{key: "", wantErr: route.ErrNoRoute},
		{key: "@", wantErr: route.ErrNoRoute},
		{key: "@10.0.0.1:7000", wantErr: route.ErrNoRoute},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			e, err := tb.Lookup(tt.key)
			if tt.wantErr != nil {
				if e != nil || !errors.Is(err, tt.wantErr) {
					t.Fatalf("Lookup = %v, %v; want %v", e, err, tt.wantErr)
				}
				return
			}
			if err != nil || e.ID.String() != tt.want {
				t.Fatalf("Lookup = %v, %v; want %s", e, err, tt.want)
			}
			if tb.Get(e.ID.Addr) != e {
				t.Fatal("Lookup and Get disagree")
			}
		})
	}
}

func TestLookupAmbiguousMessage(t *testing.T) {
	tb := newTable(t, "bob@10.0.0.3:7000", "bob@10.0.0.2:7000", "bob@b.example:1")
	_, err := tb.Lookup("bob")
	if !errors.Is(err, route.ErrAmbiguous) {
		t.Fatalf("err = %v, want ErrAmbiguous", err)
	}
	want := "bob@10.0.0.2:7000, bob@10.0.0.3:7000, bob@b.example:1" // sorted
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %q, want it to list %q", err, want)
	}
}

// TestEachNamed: a name one entry carries yields it, a name several carry
// yields each once until f says stop, an unknown name none; deleting one
// of two entries makes the name unique again.
func TestEachNamed(t *testing.T) {
	tb := newTable(t, "a@10.0.0.1:1", "b@10.0.0.2:1", "b@10.0.0.3:1", "b@10.0.0.4:1")
	named := func(name string, stopAfter int) []string {
		var got []string
		tb.EachNamed(name, func(e *fakeEntry) bool {
			got = append(got, e.ID.String())
			return len(got) < stopAfter
		})
		slices.Sort(got)
		return got
	}
	if got := named("a", 10); !slices.Equal(got, []string{"a@10.0.0.1:1"}) {
		t.Errorf("a: %v", got)
	}
	if got := named("b", 10); !slices.Equal(got, []string{"b@10.0.0.2:1", "b@10.0.0.3:1", "b@10.0.0.4:1"}) {
		t.Errorf("b: %v", got)
	}
	if got := named("b", 2); len(got) != 2 {
		t.Errorf("b, stopping after 2: %v", got)
	}
	if got := named("c", 10); len(got) != 0 {
		t.Errorf("c: %v", got)
	}
	for _, addr := range []string{"10.0.0.2:1", "10.0.0.3:1"} {
		if _, err := tb.Delete(addr); err != nil {
			t.Fatal(err)
		}
	}
	if got := named("b", 10); !slices.Equal(got, []string{"b@10.0.0.4:1"}) {
		t.Errorf("b after two deletes: %v", got)
	}
}

func TestGet(t *testing.T) {
	tb := newTable(t, peers...)
	if e := tb.Get("10.0.0.1:7000"); e == nil || e.ID.Name != "alice" {
		t.Fatalf("Get(addr) = %v", e)
	}
	for _, key := range []string{"alice", "alice@10.0.0.1:7000", "10.0.0.9:7000", ""} {
		if e := tb.Get(key); e != nil {
			t.Errorf("Get(%q) = %v, want nil", key, e)
		}
	}
}

func TestAdd(t *testing.T) {
	tb := newTable(t, peers...)
	alice := tb.Get("10.0.0.1:7000")
	all := tb.All()

	t.Run("same id returns the same entry", func(t *testing.T) {
		e, err := tb.Add(id(t, "alice@10.0.0.1:7000"))
		if err != nil || e != alice {
			t.Fatalf("Add = %p, %v; want %p", e, err, alice)
		}
	})
	t.Run("other name at a taken address", func(t *testing.T) {
		e, err := tb.Add(id(t, "mallory@10.0.0.1:7000"))
		if e != nil || !errors.Is(err, route.ErrAddrTaken) {
			t.Fatalf("Add = %v, %v; want ErrAddrTaken", e, err)
		}
		if !strings.Contains(err.Error(), "alice@10.0.0.1:7000") {
			t.Fatalf("err = %q, want it to name the holder", err)
		}
		if got, _ := tb.Lookup("10.0.0.1:7000"); got != alice {
			t.Fatal("the holder changed")
		}
		if _, err := tb.Lookup("mallory"); !errors.Is(err, route.ErrNoRoute) {
			t.Fatalf("Lookup(mallory) = %v; the failed Add left a name behind", err)
		}
	})
	t.Run("invalid id", func(t *testing.T) {
		for _, bad := range []proto.PeerID{{}, {Name: "a"}, {Addr: "h:1"}, {Name: "a", Addr: "h:0"}} {
			if e, err := tb.Add(bad); e != nil || !errors.Is(err, proto.ErrBadPeerID) {
				t.Errorf("Add(%+v) = %v, %v; want ErrBadPeerID", bad, e, err)
			}
		}
	})
	t.Run("no-op adds keep the snapshot", func(t *testing.T) {
		if tb.Len() != len(peers) {
			t.Fatalf("Len = %d, want %d", tb.Len(), len(peers))
		}
		if got := tb.All(); unsafe.SliceData(got) != unsafe.SliceData(all) {
			t.Fatal("All() rebuilt after adds that changed nothing")
		}
	})
}

func TestDelete(t *testing.T) {
	tests := []struct {
		key     string
		removed string
	}{
		{"alice@10.0.0.1:7000", "alice@10.0.0.1:7000"},
		{"10.0.0.2:7000", "bob@10.0.0.2:7000"},
		{"carol", "carol@[::1]:7000"},
		{"x.y@10.0.0.4:7000", "x.y@10.0.0.4:7000"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			tb := newTable(t, peers...)
			before := tb.Get(id(t, tt.removed).Addr)
			e, err := tb.Delete(tt.key)
			if err != nil || e != before {
				t.Fatalf("Delete = %v, %v; want %v", e, err, before)
			}
			if tb.Len() != len(peers)-1 || len(tb.All()) != len(peers)-1 {
				t.Fatalf("Len = %d, len(All) = %d; want %d", tb.Len(), len(tb.All()), len(peers)-1)
			}
			if tb.Get(e.ID.Addr) != nil {
				t.Fatal("Get still finds the entry")
			}
			for _, key := range []string{e.ID.String(), e.ID.Addr} {
				if _, err := tb.Lookup(key); !errors.Is(err, route.ErrNoRoute) {
					t.Fatalf("Lookup(%s) after Delete = %v", key, err)
				}
			}
			if slices.Contains(tb.All(), e) {
				t.Fatal("All still lists the entry")
			}
			// The address is free again; a re-add makes a new entry.
			again, err := tb.Add(e.ID)
			if err != nil || again == e {
				t.Fatalf("re-Add = %p, %v; want a new entry", again, err)
			}
		})
	}
}

func TestDeleteName(t *testing.T) {
	tb := newTable(t, peers...)
	if _, err := tb.Delete("bob"); !errors.Is(err, route.ErrAmbiguous) {
		t.Fatalf("Delete(bob) = %v, want ErrAmbiguous", err)
	}
	if tb.Len() != len(peers) {
		t.Fatal("an ambiguous Delete removed something")
	}
	if _, err := tb.Delete("bob@10.0.0.2:7000"); err != nil {
		t.Fatal(err)
	}
	// One bob left: the name is unique now.
	e, err := tb.Lookup("bob")
	if err != nil || e.ID.Addr != "10.0.0.3:7000" {
		t.Fatalf("Lookup(bob) = %v, %v", e, err)
	}
	if _, err := tb.Delete("bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Lookup("bob"); !errors.Is(err, route.ErrNoRoute) {
		t.Fatalf("Lookup(bob) after deleting both = %v", err)
	}
	for _, key := range []string{"bob", "nobody", "10.9.9.9:1", "alice@10.0.0.2:7000", ""} {
		if e, err := tb.Delete(key); e != nil || !errors.Is(err, route.ErrNoRoute) {
			t.Errorf("Delete(%q) = %v, %v; want ErrNoRoute", key, e, err)
		}
	}
	if tb.Len() != len(peers)-2 {
		t.Fatalf("Len = %d", tb.Len())
	}
}

func TestAll(t *testing.T) {
	tb := route.New[fakeLink](local, 1)
	if got := tb.All(); len(got) != 0 || tb.Len() != 0 {
		t.Fatalf("empty table: All = %v, Len = %d", got, tb.Len())
	}
	// Added out of order, including a name shared with another address.
	for _, s := range []string{"d@10.0.0.4:1", "a@10.0.0.1:1", "c@10.0.0.3:1", "a@10.0.0.2:1", "z@10.0.0.10:1"} {
		if _, err := tb.Add(id(t, s)); err != nil {
			t.Fatal(err)
		}
	}
	addrs := func(es []*fakeEntry) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.ID.Addr)
		}
		return out
	}
	all := tb.All()
	want := []string{"10.0.0.10:1", "10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1", "10.0.0.4:1"} // byte order: '0' < ':'
	if !slices.Equal(addrs(all), want) {
		t.Fatalf("All = %v, want %v", addrs(all), want)
	}
	if tb.Len() != len(all) {
		t.Fatalf("Len = %d, len(All) = %d", tb.Len(), len(all))
	}

	// Unchanged table: the very same slice, no rebuild.
	for range 3 {
		if again := tb.All(); unsafe.SliceData(again) != unsafe.SliceData(all) || len(again) != len(all) {
			t.Fatal("All() returned a different slice with no write in between")
		}
	}
	if a := testing.AllocsPerRun(100, func() { _ = tb.All() }); a != 0 {
		t.Fatalf("All() on an unchanged table: %v allocs, want 0", a)
	}

	// Failed writes keep the snapshot too.
	tb.Delete("nobody")
	tb.Delete("a")
	if unsafe.SliceData(tb.All()) != unsafe.SliceData(all) {
		t.Fatal("All() rebuilt after failed deletes")
	}

	// A write refreshes it.
	tb.Add(id(t, "b@10.0.0.0:1"))
	after := tb.All()
	if unsafe.SliceData(after) == unsafe.SliceData(all) {
		t.Fatal("All() not refreshed after Add")
	}
	if !slices.Equal(addrs(after), append([]string{"10.0.0.0:1"}, want...)) {
		t.Fatalf("All after Add = %v", addrs(after))
	}
	if !slices.Equal(addrs(all), want) {
		t.Fatal("the old snapshot changed under its reader")
	}
	tb.Delete("10.0.0.3:1")
	if got := addrs(tb.All()); !slices.Equal(got, []string{"10.0.0.0:1", "10.0.0.10:1", "10.0.0.1:1", "10.0.0.2:1", "10.0.0.4:1"}) {
		t.Fatalf("All after Delete = %v", got)
	}
	if tb.Len() != 5 {
		t.Fatalf("Len = %d, want 5", tb.Len())
	}
}

func TestReadsDoNotAllocate(t *testing.T) {
	tb := newTable(t, peers...)
	tests := []struct {
		name string
		fn   func()
	}{
		{"Get", func() { _ = tb.Get("10.0.0.1:7000") }},
		{"Lookup full id", func() { _, _ = tb.Lookup("alice@10.0.0.1:7000") }},
		{"Lookup addr", func() { _, _ = tb.Lookup("10.0.0.1:7000") }},
		{"Lookup name", func() { _, _ = tb.Lookup("alice") }},
		{"Len", func() { _ = tb.Len() }},
		{"Link", func() { _ = tb.Get("10.0.0.1:7000").Link() }},
	}
	tb.All()
	for _, tt := range tests {
		if a := testing.AllocsPerRun(100, tt.fn); a != 0 {
			t.Errorf("%s: %v allocs, want 0", tt.name, a)
		}
	}
}

func ExampleTable_Lookup() {
	tb := route.New[fakeLink](proto.PeerID{Name: "self", Addr: "10.0.0.100:7000"}, 1)
	for _, s := range []string{"alice@10.0.0.1:7000", "bob@10.0.0.2:7000", "bob@10.0.0.3:7000"} {
		p, _ := proto.ParsePeerID(s)
		tb.Add(p)
	}
	for _, key := range []string{"alice", "10.0.0.2:7000", "bob@10.0.0.3:7000", "bob"} {
		e, err := tb.Lookup(key)
		if err != nil {
			fmt.Println(key, "->", err)
			continue
		}
		fmt.Println(key, "->", e.ID)
	}
	// Output:
	// alice -> alice@10.0.0.1:7000
	// 10.0.0.2:7000 -> bob@10.0.0.2:7000
	// bob@10.0.0.3:7000 -> bob@10.0.0.3:7000
	// bob -> antnet: peer name is ambiguous: "bob" is bob@10.0.0.2:7000, bob@10.0.0.3:7000
}

// Thousands of entries spread over every shard of the indexes: each is
// found by address, full ID and name until deleted, then by none, and All
// lists exactly the ones left.
func TestManyEntries(t *testing.T) {
	tb := route.New[fakeLink](proto.PeerID{Name: "self", Addr: "10.0.0.100:7000"}, 1)
	const n = 5000
	addr := func(i int) string { return fmt.Sprintf("10.1.%d.%d:%d", i/250, i%250, 7000+i%3) }
	for i := range n {
		if _, err := tb.Add(proto.PeerID{Name: fmt.Sprint("p", i%2500), Addr: addr(i)}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i += 2 {
		if _, err := tb.Delete(addr(i)); err != nil {
			t.Fatal(err)
		}
	}
	if tb.Len() != n/2 || len(tb.All()) != n/2 {
		t.Fatalf("Len %d, All %d, want %d", tb.Len(), len(tb.All()), n/2)
	}
	for i := range n {
		e := tb.Get(addr(i))
		_, errID := tb.Lookup(fmt.Sprint("p", i%2500, "@", addr(i)))
		if i%2 == 0 {
			if e != nil || errID == nil {
				t.Fatalf("deleted %s still found", addr(i))
			}
			continue
		}
		if e == nil || e.ID.Addr != addr(i) || errID != nil {
			t.Fatalf("%s: entry %v, lookup by ID: %v", addr(i), e, errID)
		}
		// p<i%2500> names entries i and i+2500, of the same parity: both
		// are left for an odd i, so the name is ambiguous.
		if _, err := tb.Lookup(fmt.Sprint("p", i%2500)); !errors.Is(err, route.ErrAmbiguous) {
			t.Fatalf("name p%d: %v, want ErrAmbiguous", i%2500, err)
		}
	}
}
