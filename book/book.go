// Package book is antnet's address book: the peers a node has heard of,
// where each listens, who told it, how dialing them went, and when to try
// each next. It has no network code; the engine tells it what happened and
// asks it whom to dial. A Book is safe for concurrent use; every method
// takes one mutex and is O(1) unless it says otherwise.
//
// What a peer can make a node hold is bounded: at most Config.Max entries in
// all and Config.MaxPerSource learned from any one peer, and a learned
// address that keeps failing is forgotten after Config.MaxFailures dials.
package book

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/antnet-p2p/antnet/proto"
	"github.com/antnet-p2p/antnet/secure"
)

// Source is how the book learned of a peer.
type Source uint8

const (
	// Static: added by the node's owner (AddRoute). Never pruned, always
	// redialed.
	Static Source = iota + 1
	// Inbound: the peer dialed us and said hello.
	Inbound
	// Exchange: another peer told us of it (peer exchange).
	Exchange
)

// String returns "static", "inbound" or "exchange".
func (s Source) String() string {
	switch s {
	case Static:
		return "static"
	case Inbound:
		return "inbound"
	case Exchange:
		return "exchange"
	}
	return fmt.Sprintf("source(%d)", uint8(s))
}

// Peer is one entry of the book. The book hands out copies.
type Peer struct {
	ID        proto.PeerID // name, listen address and, on secure networks, key
	Source    Source
	From      string    // Exchange: the address of the peer that told us
	Added     time.Time // when the book first heard of it
	LastSeen  time.Time // when a link to it was last up; zero if never
	LastTried time.Time // when it was last dialed; zero if never
	Failures  int       // dials failed in a row
	NextDial  time.Time // not dialed before this
}

// Errors returned by a Book.
var (
	// ErrFull: the book holds Config.Max entries none of which may be
	// evicted. The peer is not added.
	ErrFull = errors.New("book: full")
	// ErrSourceFull: the peer that told us of this one already filled its
	// share (Config.MaxPerSource). The peer is not added.
	ErrSourceFull = errors.New("book: too many addresses from one source")
	// ErrKeyConflict: the address is known with another key. The known
	// entry stays.
	ErrKeyConflict = errors.New("book: address known with another key")
	// ErrBadFile: the persisted book does not parse. Fix or delete it.
	ErrBadFile = errors.New("book: malformed address book file")
)

// Config bounds a Book. Zero fields take the defaults.
type Config struct {
	Max          int           // entries in all; default 1024
	MaxPerSource int           // Exchange entries from one peer; default 32
	MaxFailures  int           // an Exchange entry is forgotten after this many failed dials in a row; default 6
	BackoffBase  time.Duration // wait after the first failure, doubled after each; default 1s
	BackoffMax   time.Duration // the longest wait; default 10m
	Path         string        // file the book is loaded from and saved to; "" keeps it in memory
}

func (c *Config) defaults() {
	if c.Max <= 0 {
		c.Max = 1024
	}
	if c.MaxPerSource <= 0 {
		c.MaxPerSource = 32
	}
	if c.MaxFailures <= 0 {
		c.MaxFailures = 6
	}
	if c.BackoffBase <= 0 {
		c.BackoffBase = time.Second
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = 10 * time.Minute
	}
}

// Book is the address book. Create it with New.
type Book struct {
	cfg      Config
	mu       sync.Mutex
	peers    map[string]*Peer // by address
	bySource map[string]int   // Exchange entries per From
}

// New returns a book bounded by cfg, loaded from cfg.Path when that file
// exists.
func New(cfg Config) (*Book, error) {
	cfg.defaults()
	b := &Book{cfg: cfg, peers: make(map[string]*Peer), bySource: make(map[string]int)}
	if cfg.Path != "" {
		if err := b.load(); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// Len returns the number of entries.
func (b *Book) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.peers)
}

// Add records id, learned from src (from: the telling peer's address, for
// Exchange). A known address keeps its entry: a Static add makes it
// static, a name or key learned later fills an empty one, and another key
// is ErrKeyConflict. A new Exchange entry is refused once its source has
// MaxPerSource entries; when the book is full, the least useful evictable
// entry (learned, most failures, seen longest ago) makes room, O(entries).
// An invalid ID, or a key that is neither empty nor secure.KeySize bytes
// (no pex-response could carry it), is proto.ErrBadPeerID.
func (b *Book) Add(id proto.PeerID, src Source, from string, now time.Time) error {
	if err := id.Validate(); err != nil {
		return err
	}
	if id.Key != "" && len(id.Key) != secure.KeySize {
		return fmt.Errorf("%w: key of %d bytes, want %d", proto.ErrBadPeerID, len(id.Key), secure.KeySize)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if p, ok := b.peers[id.Addr]; ok {
		if id.Key != "" && p.ID.Key != "" && id.Key != p.ID.Key {
			return fmt.Errorf("%w: %s", ErrKeyConflict, id)
		}
		if p.ID.Key == "" {
			p.ID.Key = id.Key
		}
		if src == Static && p.Source != Static {
			b.release(p)
			p.Source, p.From, p.ID.Name = Static, "", id.Name
		}
		return nil
	}
	if src == Exchange && b.bySource[from] >= b.cfg.MaxPerSource {
		return fmt.Errorf("%w: %s", ErrSourceFull, from)
	}
	if len(b.peers) >= b.cfg.Max && !b.evictOne() {
		return ErrFull
	}
	p := &Peer{ID: id, Source: src, Added: now}
	if src == Exchange {
		p.From = from
		b.bySource[from]++
	}
	b.peers[id.Addr] = p
	return nil
}

// release forgets p's count against its source. Under mu.
func (b *Book) release(p *Peer) {
	if p.Source != Exchange {
		return
	}
	if b.bySource[p.From]--; b.bySource[p.From] <= 0 {
		delete(b.bySource, p.From)
	}
}

// evictOne removes the least useful non-static entry. Under mu.
func (b *Book) evictOne() bool {
	var worst *Peer
	for _, p := range b.peers {
		if p.Source == Static {
			continue
		}
		if worst == nil || worse(p, worst) {
			worst = p
		}
	}
	if worst == nil {
		return false
	}
	b.release(worst)
	delete(b.peers, worst.ID.Addr)
	return true
}

// worse reports whether p is less worth keeping than q: learned by
// exchange rather than inbound, then more failures, then seen longer ago.
func worse(p, q *Peer) bool {
	if (p.Source == Exchange) != (q.Source == Exchange) {
		return p.Source == Exchange
	}
	if p.Failures != q.Failures {
		return p.Failures > q.Failures
	}
	return p.LastSeen.Before(q.LastSeen)
}

// Remove forgets the peer at addr and reports whether it was known.
func (b *Book) Remove(addr string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.peers[addr]
	if ok {
		b.release(p)
		delete(b.peers, addr)
	}
	return ok
}

// Get returns the entry at addr.
func (b *Book) Get(addr string) (Peer, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if p, ok := b.peers[addr]; ok {
		return *p, true
	}
	return Peer{}, false
}

// Tried records that addr is being dialed now: it is not offered again
// before the outcome is known or BackoffBase passes.
func (b *Book) Tried(addr string, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if p, ok := b.peers[addr]; ok {
		p.LastTried = now
		p.NextDial = now.Add(b.cfg.BackoffBase)
	}
}

// Connected records a live link to addr: failures are forgotten.
func (b *Book) Connected(addr string, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if p, ok := b.peers[addr]; ok {
		p.LastSeen, p.Failures, p.NextDial = now, 0, time.Time{}
	}
}

// Disconnected records that the link to addr went down: it may be
// redialed after BackoffBase.
func (b *Book) Disconnected(addr string, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if p, ok := b.peers[addr]; ok {
		p.LastSeen = now
		p.NextDial = now.Add(b.cfg.BackoffBase)
	}
}

// Park keeps addr from being offered for a dial before until (a peer
// that retired our link because it has too many). No-op for an unknown
// address.
func (b *Book) Park(addr string, until time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if p, ok := b.peers[addr]; ok && p.NextDial.Before(until) {
		p.NextDial = until
	}
}

// Failed records a failed dial of addr: the next one waits BackoffBase
// doubled per failure in a row (up to BackoffMax, ±20% jitter). A learned
// entry that failed MaxFailures times in a row is forgotten; Failed
// reports whether it was.
func (b *Book) Failed(addr string, now time.Time) (forgotten bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.peers[addr]
	if !ok {
		return false
	}
	p.Failures++
	if p.Source == Exchange && p.Failures >= b.cfg.MaxFailures {
		b.release(p)
		delete(b.peers, addr)
		return true
	}
	p.NextDial = now.Add(b.backoff(p.Failures))
	return false
}

// backoff is the wait after k failures in a row.
func (b *Book) backoff(k int) time.Duration {
	d := b.cfg.BackoffBase
	for i := 1; i < k && d < b.cfg.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, b.cfg.BackoffMax)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// DialCandidates returns up to n entries due for a dial at now, for which
// skip (may be nil) returns false: static entries first, then the fewest
// failures, then those seen most recently; ties in random order.
// O(entries log entries).
func (b *Book) DialCandidates(now time.Time, n int, skip func(addr string) bool) []Peer {
	due := b.shuffled(func(addr string, p *Peer) bool {
		return !now.Before(p.NextDial) && (skip == nil || !skip(addr))
	})
	sort.SliceStable(due, func(i, j int) bool {
		p, q := &due[i], &due[j]
		if (p.Source == Static) != (q.Source == Static) {
			return p.Source == Static
		}
		if p.Failures != q.Failures {
			return p.Failures < q.Failures
		}
		return p.LastSeen.After(q.LastSeen)
	})
	return due[:min(n, len(due))]
}

// Sample returns up to n entries picked at random, for telling other
// peers (peer exchange): only peers this node has had a link with
// (LastSeen set) and whose last dial did not fail, so an address a peer
// made up goes no further than the nodes it told. skip (may be nil) leaves
// entries out. O(entries).
func (b *Book) Sample(n int, skip func(addr string) bool) []Peer {
	ok := b.shuffled(func(addr string, p *Peer) bool {
		return !p.LastSeen.IsZero() && p.Failures == 0 && (skip == nil || !skip(addr))
	})
	return ok[:min(n, len(ok))]
}

// shuffled returns copies of the entries keep accepts, in random order.
func (b *Book) shuffled(keep func(addr string, p *Peer) bool) []Peer {
	b.mu.Lock()
	var out []Peer
	for addr, p := range b.peers {
		if keep(addr, p) {
			out = append(out, *p)
		}
	}
	b.mu.Unlock()
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// All returns every entry, sorted by address. O(entries log entries).
func (b *Book) All() []Peer {
	b.mu.Lock()
	all := make([]Peer, 0, len(b.peers))
	for _, p := range b.peers {
		all = append(all, *p)
	}
	b.mu.Unlock()
	sort.Slice(all, func(i, j int) bool { return all[i].ID.Addr < all[j].ID.Addr })
	return all
}

// fileVersion is the persisted format's version.
const fileVersion = 1

type fileBook struct {
	Version int        `json:"version"`
	Peers   []filePeer `json:"peers"`
}

type filePeer struct {
	Name     string    `json:"name"`
	Addr     string    `json:"addr"`
	Key      string    `json:"key,omitempty"` // hex
	Source   Source    `json:"source"`
	From     string    `json:"from,omitempty"`
	Added    time.Time `json:"added"`
	LastSeen time.Time `json:"last_seen"`
	Failures int       `json:"failures"`
}

// Save writes the book to Config.Path (a no-op without one): to a
// temporary file first, renamed over the old one, mode 0600. When to dial
// next is not saved: a restarted node may dial every entry at once.
// O(entries).
func (b *Book) Save() error {
	if b.cfg.Path == "" {
		return nil
	}
	fb := fileBook{Version: fileVersion}
	for _, p := range b.All() {
		fb.Peers = append(fb.Peers, filePeer{
			Name: p.ID.Name, Addr: p.ID.Addr, Key: hex.EncodeToString([]byte(p.ID.Key)),
			Source: p.Source, From: p.From, Added: p.Added, LastSeen: p.LastSeen, Failures: p.Failures,
		})
	}
	data, err := json.MarshalIndent(fb, "", "\t")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(b.cfg.Path), ".book-*")
	if err != nil {
		return fmt.Errorf("book: save: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("book: save: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("book: save: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return fmt.Errorf("book: save: %w", err)
	}
	if err := os.Rename(tmp.Name(), b.cfg.Path); err != nil {
		return fmt.Errorf("book: save: %w", err)
	}
	return nil
}

// load reads Config.Path; a missing file is an empty book. Entries beyond
// the bounds, or that do not validate, are skipped: so is a negative
// failure count, and a learned entry that failed MaxFailures times (Failed
// would have forgotten it).
func (b *Book) load() error {
	data, err := os.ReadFile(b.cfg.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("book: load: %w", err)
	}
	var fb fileBook
	if err := json.Unmarshal(data, &fb); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBadFile, b.cfg.Path, err)
	}
	if fb.Version != fileVersion {
		return fmt.Errorf("%w: %s: version %d, want %d", ErrBadFile, b.cfg.Path, fb.Version, fileVersion)
	}
	for _, fp := range fb.Peers {
		key, err := hex.DecodeString(fp.Key)
		if err != nil || fp.Source < Static || fp.Source > Exchange || fp.Failures < 0 {
			continue
		}
		id := proto.PeerID{Name: fp.Name, Addr: fp.Addr, Key: string(key)}
		if b.Add(id, fp.Source, fp.From, fp.Added) != nil {
			continue
		}
		b.mu.Lock()
		p := b.peers[id.Addr]
		p.LastSeen, p.Failures = fp.LastSeen, fp.Failures
		if p.Source == Exchange && p.Failures >= b.cfg.MaxFailures {
			b.release(p) // forgotten, as Failed forgets it
			delete(b.peers, id.Addr)
		}
		b.mu.Unlock()
	}
	return nil
}
