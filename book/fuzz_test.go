package book

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/proto"
	"github.com/antnet-p2p/antnet/secure"
)

// fuzzConfig is small so that the fuzzer reaches every bound.
func fuzzConfig(path string) Config {
	return Config{Max: 8, MaxPerSource: 2, MaxFailures: 3, Path: path}
}

// checkBounds fails t unless every entry of b is one the book could have
// made itself: a valid ID whose key is empty or a public key's size (so a
// pex-response can carry it), a known source, no teller unless learned by
// exchange, a failure count in 0..MaxFailures-1 for a learned entry (it is
// forgotten at MaxFailures) and not negative for any, and the book within
// Max entries and MaxPerSource per teller.
func checkBounds(t *testing.T, b *Book) {
	t.Helper()
	all := b.All()
	if len(all) > b.cfg.Max {
		t.Fatalf("%d entries, Max %d", len(all), b.cfg.Max)
	}
	perSource := map[string]int{}
	for _, p := range all {
		if err := p.ID.Validate(); err != nil {
			t.Fatalf("entry %+v: %v", p, err)
		}
		keySize := 0 // a plain network's entries carry no key, a secure one's a public key
		if p.ID.Key != "" {
			keySize = secure.KeySize
		}
		if _, err := proto.ParsePexResponse(proto.AppendPexResponse(nil, []proto.PeerID{p.ID}), keySize); err != nil {
			t.Fatalf("entry %+v cannot go in a pex-response: %v", p.ID, err)
		}
		if p.Source < Static || p.Source > Exchange || (p.Source != Exchange && p.From != "") {
			t.Fatalf("entry %+v: source %v from %q", p.ID, p.Source, p.From)
		}
		if p.Failures < 0 || (p.Source == Exchange && p.Failures >= b.cfg.MaxFailures) {
			t.Fatalf("entry %+v: %d failures (MaxFailures %d)", p.ID, p.Failures, b.cfg.MaxFailures)
		}
		if p.Source == Exchange {
			if perSource[p.From]++; perSource[p.From] > b.cfg.MaxPerSource {
				t.Fatalf("%d entries from %q, MaxPerSource %d", perSource[p.From], p.From, b.cfg.MaxPerSource)
			}
		}
	}
}

// samePeers reports whether two books' entries agree on what Save keeps.
func samePeers(a, b []Peer) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		p, q := a[i], b[i]
		if p.ID != q.ID || p.Source != q.Source || p.From != q.From || p.Failures != q.Failures ||
			!p.Added.Equal(q.Added) || !p.LastSeen.Equal(q.LastSeen) {
			return false
		}
	}
	return true
}

// Invariant of the address book's file loader (New with Config.Path): a
// file it refuses gives an error matching ErrBadFile; a file it takes
// yields only entries within the book's bounds (checkBounds), however the
// file was written; and what it loaded, saved and loaded again, is the
// same book.
func FuzzLoad(f *testing.F) {
	dir := f.TempDir()
	seed := filepath.Join(dir, "seed.json")
	b, err := New(fuzzConfig(seed))
	if err != nil {
		f.Fatal(err)
	}
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	_ = b.Add(proto.PeerID{Name: "s", Addr: "127.0.0.1:1"}, Static, "", t0)
	_ = b.Add(proto.PeerID{Name: "i", Addr: "[::1]:2", Key: strings.Repeat("k", secure.KeySize)}, Inbound, "", t0)
	_ = b.Add(proto.PeerID{Name: "x", Addr: "127.0.0.1:3"}, Exchange, "127.0.0.1:1", t0)
	b.Connected("127.0.0.1:1", t0.Add(time.Minute))
	b.Failed("127.0.0.1:3", t0)
	if err := b.Save(); err != nil {
		f.Fatal(err)
	}
	saved, err := os.ReadFile(seed)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(saved)
	f.Add([]byte(`{"version":1,"peers":[{"name":"a","addr":"127.0.0.1:9","source":2},{"name":"a","addr":"127.0.0.1:9","source":1,"failures":9}]}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`{not json`))
	f.Add([]byte(``))
	path := filepath.Join(dir, "peers.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		b, err := New(fuzzConfig(path))
		if err != nil {
			if !errors.Is(err, ErrBadFile) {
				t.Fatalf("New: %v, want ErrBadFile", err)
			}
			return
		}
		checkBounds(t, b)
		if err := b.Save(); err != nil {
			t.Fatalf("Save of a loaded book: %v", err)
		}
		again, err := New(fuzzConfig(path))
		if err != nil {
			t.Fatalf("reloading a saved book: %v", err)
		}
		if got, want := again.All(), b.All(); !samePeers(got, want) {
			t.Fatalf("saved and reloaded:\n%+v\nloaded:\n%+v", got, want)
		}
	})
}
