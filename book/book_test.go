package book

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/proto"
	"github.com/antnet-p2p/antnet/secure"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func id(i int) proto.PeerID {
	return proto.PeerID{Name: fmt.Sprintf("p%d", i), Addr: fmt.Sprintf("127.0.0.1:%d", 10000+i)}
}

func mustNew(t *testing.T, cfg Config) *Book {
	t.Helper()
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBoundsPerSourceAndTotal(t *testing.T) {
	b := mustNew(t, Config{Max: 10, MaxPerSource: 3})
	for i := range 3 {
		if err := b.Add(id(i), Exchange, "liar:1", t0); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Add(id(3), Exchange, "liar:1", t0); !errors.Is(err, ErrSourceFull) {
		t.Fatalf("4th address from one source: %v", err)
	}
	// Static and inbound entries do not count against a source.
	for i := 10; i < 17; i++ {
		if err := b.Add(id(i), Static, "", t0); err != nil {
			t.Fatal(err)
		}
	}
	if b.Len() != 10 {
		t.Fatalf("len %d", b.Len())
	}
	// Full: a new entry evicts the least useful learned one.
	b.Failed(id(1).Addr, t0)
	if err := b.Add(id(20), Inbound, "", t0); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.Get(id(1).Addr); ok || b.Len() != 10 {
		t.Fatal("the failing learned entry was not the one evicted")
	}
	// Only static entries left to evict: full.
	b2 := mustNew(t, Config{Max: 2})
	_ = b2.Add(id(1), Static, "", t0)
	_ = b2.Add(id(2), Static, "", t0)
	if err := b2.Add(id(3), Exchange, "x:1", t0); !errors.Is(err, ErrFull) {
		t.Fatalf("book of statics: %v", err)
	}
}

func TestKnownAddress(t *testing.T) {
	b := mustNew(t, Config{MaxPerSource: 1})
	p := id(1)
	p.Key = "key-a" + strings.Repeat("a", secure.KeySize-5)
	if err := b.Add(p, Exchange, "x:1", t0); err != nil {
		t.Fatal(err)
	}
	other := p
	other.Key = "key-b" + strings.Repeat("b", secure.KeySize-5)
	if err := b.Add(other, Exchange, "y:1", t0); !errors.Is(err, ErrKeyConflict) {
		t.Fatalf("another key for a known address: %v", err)
	}
	// Made static: protected, and its source's share is freed.
	if err := b.Add(p, Static, "", t0); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.Get(p.Addr); got.Source != Static || got.From != "" {
		t.Fatalf("%+v", got)
	}
	if err := b.Add(id(2), Exchange, "x:1", t0); err != nil {
		t.Fatalf("source share not freed: %v", err)
	}
	if err := b.Add(proto.PeerID{Name: "bad@name", Addr: "127.0.0.1:1"}, Exchange, "x:1", t0); !errors.Is(err, proto.ErrBadPeerID) {
		t.Fatalf("invalid id: %v", err)
	}
}

func TestBackoffAndForgetting(t *testing.T) {
	b := mustNew(t, Config{BackoffBase: time.Second, BackoffMax: 8 * time.Second, MaxFailures: 5})
	_ = b.Add(id(1), Exchange, "x:1", t0)
	_ = b.Add(id(2), Static, "", t0)
	for k, want := range []time.Duration{1, 2, 4, 8} {
		b.Failed(id(2).Addr, t0)
		p, _ := b.Get(id(2).Addr)
		wait := p.NextDial.Sub(t0)
		if lo, hi := want*time.Second*8/10, want*time.Second*12/10; wait < lo || wait > hi {
			t.Fatalf("after %d failures: wait %v, want %v±20%%", k+1, wait, want*time.Second)
		}
	}
	for range 4 {
		if b.Failed(id(1).Addr, t0) {
			t.Fatal("forgotten too early")
		}
	}
	if !b.Failed(id(1).Addr, t0) {
		t.Fatal("a learned address failing 5 times in a row is kept")
	}
	for range 20 {
		b.Failed(id(2).Addr, t0)
	}
	if _, ok := b.Get(id(2).Addr); !ok {
		t.Fatal("a static entry was forgotten")
	}
	b.Connected(id(2).Addr, t0)
	if p, _ := b.Get(id(2).Addr); p.Failures != 0 || !p.NextDial.IsZero() {
		t.Fatalf("connected: %+v", p)
	}
}

func TestDialCandidates(t *testing.T) {
	b := mustNew(t, Config{BackoffBase: time.Second})
	_ = b.Add(id(1), Exchange, "x:1", t0)
	_ = b.Add(id(2), Exchange, "x:1", t0)
	_ = b.Add(id(3), Static, "", t0)
	_ = b.Add(id(4), Inbound, "", t0)
	b.Failed(id(1).Addr, t0)
	b.Tried(id(4).Addr, t0)
	got := b.DialCandidates(t0, 10, func(addr string) bool { return addr == id(2).Addr })
	if len(got) != 1 || got[0].ID != id(3) {
		t.Fatalf("due now: %v", got)
	}
	later := b.DialCandidates(t0.Add(time.Hour), 10, nil)
	if len(later) != 4 || later[0].ID != id(3) || later[len(later)-1].ID != id(1) {
		t.Fatalf("an hour later: %v", later)
	}
	if n := len(b.DialCandidates(t0.Add(time.Hour), 2, nil)); n != 2 {
		t.Fatalf("asked for 2, got %d", n)
	}
	if s := b.Sample(10, nil); len(s) != 0 {
		t.Fatalf("sample tells peers never linked: %v", s)
	}
	for i := 1; i <= 4; i++ {
		b.Connected(id(i).Addr, t0)
	}
	b.Failed(id(1).Addr, t0)
	if s := b.Sample(10, nil); len(s) != 3 {
		t.Fatalf("sample includes the failing entry: %v", s)
	}
}

func TestSaveAndLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "peers.json")
	b := mustNew(t, Config{Path: path})
	secured := id(2)
	secured.Key = "\x00\x01binary key" + strings.Repeat("k", secure.KeySize-12)
	_ = b.Add(id(1), Static, "", t0)
	_ = b.Add(secured, Exchange, "127.0.0.1:9", t0)
	b.Connected(id(1).Addr, t0.Add(time.Minute))
	b.Failed(secured.Addr, t0)
	if err := b.Save(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("saved file: %v %v", fi.Mode(), err)
	}
	c := mustNew(t, Config{Path: path})
	want := b.All()
	for i := range want {
		want[i].NextDial = time.Time{} // a restarted node may dial at once
	}
	if got, want := fmt.Sprint(c.All()), fmt.Sprint(want); got != want {
		t.Fatalf("reloaded:\n%s\nwant\n%s", got, want)
	}
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Path: path}); !errors.Is(err, ErrBadFile) {
		t.Fatalf("junk file: %v", err)
	}
	if b, err := New(Config{Path: filepath.Join(t.TempDir(), "none.json")}); err != nil || b.Len() != 0 {
		t.Fatalf("missing file: %v", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	b := mustNew(t, Config{Max: 50, MaxPerSource: 50})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				p := id(g*1000 + i)
				_ = b.Add(p, Exchange, fmt.Sprintf("src:%d", g), t0)
				b.Failed(p.Addr, t0)
				b.DialCandidates(t0.Add(time.Hour), 5, nil)
				b.Sample(5, nil)
			}
		}()
	}
	wg.Wait()
	if b.Len() > 50 {
		t.Fatalf("len %d over the bound", b.Len())
	}
}

func TestParkDelaysDialsOnly(t *testing.T) {
	b := mustNew(t, Config{BackoffBase: time.Second})
	_ = b.Add(id(1), Inbound, "", t0)
	b.Connected(id(1).Addr, t0)
	b.Disconnected(id(1).Addr, t0)
	b.Park(id(1).Addr, t0.Add(time.Minute))
	b.Park(id(1).Addr, t0.Add(time.Second)) // an earlier time does not shorten it
	b.Park(id(9).Addr, t0.Add(time.Minute)) // unknown: no-op
	if got := b.DialCandidates(t0.Add(59*time.Second), 10, nil); len(got) != 0 {
		t.Fatalf("parked address offered: %v", got)
	}
	if got := b.DialCandidates(t0.Add(time.Minute), 10, nil); len(got) != 1 {
		t.Fatalf("after the park: %v", got)
	}
	if s := b.Sample(10, nil); len(s) != 1 {
		t.Fatalf("a parked peer is still told to others: %v", s)
	}
}

// A key that is not a public key's size could not travel in a
// pex-response (the receiver refuses the whole response), so the book
// takes none, from Add or from its file (FuzzLoad found one in a file).
func TestAddRefusesKeyOfWrongSize(t *testing.T) {
	b := mustNew(t, Config{})
	for _, n := range []int{1, secure.KeySize - 1, secure.KeySize + 1} {
		p := id(1)
		p.Key = strings.Repeat("k", n)
		if err := b.Add(p, Inbound, "", t0); !errors.Is(err, proto.ErrBadPeerID) {
			t.Fatalf("key of %d bytes: %v, want ErrBadPeerID", n, err)
		}
	}
	p := id(1)
	p.Key = strings.Repeat("k", secure.KeySize)
	if err := b.Add(p, Inbound, "", t0); err != nil || b.Len() != 1 {
		t.Fatalf("key of %d bytes: %v, %d entries", secure.KeySize, err, b.Len())
	}
}

// A learned entry is forgotten after MaxFailures failed dials in a row;
// a file cannot make the book keep one longer, with a count at or past
// the limit or a negative one.
func TestLoadKeepsTheFailureBound(t *testing.T) {
	path := filepath.Join(t.TempDir(), "peers.json")
	file := `{"version":1,"peers":[
		{"name":"neg","addr":"127.0.0.1:1","source":3,"from":"127.0.0.1:9","failures":-1000000},
		{"name":"past","addr":"127.0.0.1:2","source":3,"from":"127.0.0.1:9","failures":3},
		{"name":"ok","addr":"127.0.0.1:3","source":3,"from":"127.0.0.1:9","failures":2},
		{"name":"static","addr":"127.0.0.1:4","source":1,"failures":50}]}`
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	b := mustNew(t, Config{Path: path, MaxFailures: 3})
	var got []string
	for _, p := range b.All() {
		got = append(got, fmt.Sprintf("%s:%d", p.ID.Name, p.Failures))
	}
	if fmt.Sprint(got) != "[ok:2 static:50]" {
		t.Fatalf("loaded %v, want [ok:2 static:50]", got)
	}
}
