// Package route is antnet's route table: the peers a node knows, keyed by
// listening address, and the live link to each in persistent mode.
//
// Reads (Get, Lookup, All) take no lock: entries sit in open-addressed
// tables of atomic pointers that writers change in place (see index), and
// the list that broadcast walks is an immutable slice behind an atomic
// pointer, rebuilt on the first read after a write. Writers serialise on
// one mutex.
package route

import (
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/antnet-p2p/antnet/proto"
)

// Errors returned by the table.
var (
	// ErrNoRoute: no entry matches the key. Add the peer first.
	ErrNoRoute = errors.New("antnet: no route to peer")
	// ErrAmbiguous: a bare name matches several peers. Address the peer by
	// name@host:port or by host:port.
	ErrAmbiguous = errors.New("antnet: peer name is ambiguous")
	// ErrAddrTaken: another name already holds the address. Delete it first.
	ErrAddrTaken = errors.New("antnet: address already routed to another name")
)

// Link is a live connection as the table sees it. The engine implements it.
type Link interface {
	// Outbound reports whether the local node dialed this link.
	Outbound() bool
	// Key is the peer's authenticated public key, or "" on a plain link.
	Key() string
	// Nonce is the random number the peer drew at start and sent in its
	// hello: another nonce on the same peer's link means it restarted.
	Nonce() uint64
}

// LinkOf is the constraint on a table's link type L: a pointer to T that
// is a Link. The table holds links as *T, so an entry's link costs one
// atomic pointer and no box.
type LinkOf[T any] interface {
	*T
	Link
}

// Entry is one peer in the table. ID never changes; the link does.
type Entry[T any, L LinkOf[T]] struct {
	ID   proto.PeerID
	link atomic.Pointer[T]
}

// Link returns the entry's live link, or nil when it has none (short mode, or
// not connected). Lock-free.
func (e *Entry[T, L]) Link() L { return L(e.link.Load()) }

// Table maps peers to entries, whose links are of type L. The zero value
// is not usable; call New.
type Table[T any, L LinkOf[T]] struct {
	local proto.PeerID
	nonce uint64

	mu     sync.Mutex
	byAddr index[T, L]                               // addr -> entry
	byName index[T, L]                               // name -> the entry, for a name one entry carries
	shared atomic.Pointer[map[string][]*Entry[T, L]] // name -> its entries, for a name several carry (immutable, replaced on write)
	all    atomic.Pointer[[]*Entry[T, L]]            // sorted by address; nil after a write
	count  atomic.Int64
}

// New returns an empty table for the node local, whose hello nonce is nonce;
// local's key and nonce decide the duplicate-link rule (see Prefer).
func New[T any, L LinkOf[T]](local proto.PeerID, nonce uint64) *Table[T, L] {
	return &Table[T, L]{
		local:  local,
		nonce:  nonce,
		byAddr: newIndex(func(e *Entry[T, L]) string { return e.ID.Addr }),
		byName: newIndex(func(e *Entry[T, L]) string { return e.ID.Name }),
	}
}

// Len returns the number of entries. Lock-free.
func (t *Table[T, L]) Len() int { return int(t.count.Load()) }

// Add adds id. Adding an ID already present returns its entry and no error;
// an address held by another name is ErrAddrTaken.
func (t *Table[T, L]) Add(id proto.PeerID) (*Entry[T, L], error) {
	if err := id.Validate(); err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.byAddr.load(id.Addr); e != nil {
		if e.ID.Name != id.Name {
			return nil, fmt.Errorf("%w: %s is %s", ErrAddrTaken, id.Addr, e.ID)
		}
		return e, nil
	}
	e := &Entry[T, L]{ID: id}
	t.byAddr.store(e)
	if list, ok := t.sharing(id.Name); ok {
		t.share(id.Name, append(list[:len(list):len(list)], e))
	} else if other := t.byName.load(id.Name); other != nil {
		t.share(id.Name, []*Entry[T, L]{other, e}) // before the delete: a reader sees one or the other
		t.byName.delete(id.Name)
	} else {
		t.byName.store(e)
	}
	t.count.Add(1)
	t.all.Store(nil)
	return e, nil
}

// Delete removes the entry key resolves to (see Lookup) and returns it; its
// link, if any, is the caller's to close.
func (t *Table[T, L]) Delete(key string) (*Entry[T, L], error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, err := t.Lookup(key)
	if err != nil {
		return nil, err
	}
	t.byAddr.delete(e.ID.Addr)
	list, ok := t.sharing(e.ID.Name)
	if !ok {
		t.byName.delete(e.ID.Name)
	} else {
		rest := make([]*Entry[T, L], 0, len(list)-1)
		for _, x := range list {
			if x != e {
				rest = append(rest, x)
			}
		}
		if len(rest) == 1 {
			t.byName.store(rest[0]) // before the share ends: a reader sees one or the other
			t.share(e.ID.Name, nil)
		} else {
			t.share(e.ID.Name, rest)
		}
	}
	t.count.Add(-1)
	t.all.Store(nil)
	return e, nil
}

// sharing returns the entries of a name several carry. Lock-free.
func (t *Table[T, L]) sharing(name string) ([]*Entry[T, L], bool) {
	if m := t.shared.Load(); m != nil {
		list, ok := (*m)[name]
		return list, ok
	}
	return nil, false
}

// share sets the entries of a name several carry; nil ends the share.
// Writers only: it copies the map, which holds only shared names.
func (t *Table[T, L]) share(name string, list []*Entry[T, L]) {
	var m map[string][]*Entry[T, L]
	if old := t.shared.Load(); old != nil {
		m = maps.Clone(*old)
	} else {
		m = make(map[string][]*Entry[T, L], 1)
	}
	if list == nil {
		delete(m, name)
	} else {
		m[name] = list
	}
	if len(m) == 0 {
		t.shared.Store(nil)
		return
	}
	t.shared.Store(&m)
}

// EachNamed calls f for each entry carrying name, until f returns false.
// Lock-free; allocates nothing; O(entries carrying name).
func (t *Table[T, L]) EachNamed(name string, f func(*Entry[T, L]) bool) {
	if e := t.byName.load(name); e != nil {
		f(e)
		return
	}
	list, _ := t.sharing(name)
	for _, e := range list {
		if !f(e) {
			return
		}
	}
}

// Get returns the entry at a listening address, or nil. Lock-free.
func (t *Table[T, L]) Get(addr string) *Entry[T, L] {
	return t.byAddr.load(addr)
}

// Lookup resolves key to one entry. key is a full ID (name@host:port), an
// address (host:port), or a bare name that exactly one entry carries.
// Lock-free.
func (t *Table[T, L]) Lookup(key string) (*Entry[T, L], error) {
	if i := strings.LastIndexByte(key, '@'); i >= 0 {
		if e := t.Get(key[i+1:]); e != nil && e.ID.Name == key[:i] {
			return e, nil
		}
		return nil, fmt.Errorf("%w %s", ErrNoRoute, key)
	}
	if e := t.Get(key); e != nil {
		return e, nil
	}
	if e := t.byName.load(key); e != nil {
		return e, nil
	}
	if list, ok := t.sharing(key); ok {
		ids := make([]string, len(list))
		for i, e := range list {
			ids[i] = e.ID.String()
		}
		sort.Strings(ids)
		return nil, fmt.Errorf("%w: %q is %s", ErrAmbiguous, key, strings.Join(ids, ", "))
	}
	return nil, fmt.Errorf("%w %q", ErrNoRoute, key)
}

// All returns every entry sorted by address. The slice is shared: do not
// modify it. Lock-free unless the table changed since the last call, when it
// is rebuilt once (O(n)).
func (t *Table[T, L]) All() []*Entry[T, L] {
	if p := t.all.Load(); p != nil {
		return *p
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if p := t.all.Load(); p != nil {
		return *p
	}
	list := make([]*Entry[T, L], 0, t.count.Load())
	t.byAddr.each(func(e *Entry[T, L]) { list = append(list, e) })
	sort.Slice(list, func(i, j int) bool { return list[i].ID.Addr < list[j].ID.Addr })
	t.all.Store(&list)
	return list
}
