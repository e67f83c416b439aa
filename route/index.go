package route

import (
	"hash/maphash"
	"math/bits"
	"sync/atomic"
)

// index maps a string of an entry (its address, or its name) to the entry,
// with lock-free reads: an open-addressed table of atomic pointers, probed
// linearly, the key read from the entry itself. Writers (serialised by the
// table's mutex) change slots in place; a resize builds a new table and
// publishes it. An entry costs two slots, 16 bytes, and a write allocates
// nothing unless the table grows or shrinks (then the old table is garbage
// in one piece).
type index[T any, L LinkOf[T]] struct {
	key  func(*Entry[T, L]) string
	seed maphash.Seed
	tomb *Entry[T, L]                                  // fills a deleted slot, so that probes carry on past it
	tab  atomic.Pointer[[]atomic.Pointer[Entry[T, L]]] // nil while empty
	used int                                           // writers: slots not nil (entries and tombstones)
	live int                                           // writers: entries
}

// minSlots is the smallest table; a table is at most half used (tombstones
// count), so every probe ends at an empty slot. A resize leaves it a third
// used: about 20 bytes an entry.
const minSlots = 16

func newIndex[T any, L LinkOf[T]](key func(*Entry[T, L]) string) index[T, L] {
	return index[T, L]{key: key, seed: maphash.MakeSeed(), tomb: new(Entry[T, L])}
}

// start is k's first slot in t: the hash scaled to len(t), any length.
func (x *index[T, L]) start(t []atomic.Pointer[Entry[T, L]], k string) int {
	hi, _ := bits.Mul64(maphash.String(x.seed, k), uint64(len(t)))
	return int(hi)
}

// next is the slot after i, wrapping.
func next[E any](t []atomic.Pointer[E], i int) int {
	if i++; i == len(t) {
		return 0
	}
	return i
}

// load returns the entry whose key is k, or nil. Lock-free.
func (x *index[T, L]) load(k string) *Entry[T, L] {
	p := x.tab.Load()
	if p == nil {
		return nil
	}
	t := *p
	for i := x.start(t, k); ; i = next(t, i) {
		e := t[i].Load()
		if e == nil {
			return nil
		}
		if e != x.tomb && x.key(e) == k {
			return e
		}
	}
}

// store puts e under its key, in place of an entry with the same key.
// Writers only.
func (x *index[T, L]) store(e *Entry[T, L]) {
	if (x.used+1)*2 > x.slots() {
		x.resize(x.live + 1)
	}
	t := *x.tab.Load()
	k := x.key(e)
	free := -1
	for i := x.start(t, k); ; i = next(t, i) {
		cur := t[i].Load()
		if cur == nil {
			if free < 0 {
				free = i
				x.used++
			}
			break
		}
		if cur == x.tomb {
			if free < 0 {
				free = i
			}
			continue
		}
		if x.key(cur) == k {
			t[i].Store(e)
			return
		}
	}
	t[free].Store(e)
	x.live++
}

// delete removes the entry whose key is k, if there is one. Writers only.
func (x *index[T, L]) delete(k string) {
	p := x.tab.Load()
	if p == nil {
		return
	}
	t := *p
	for i := x.start(t, k); ; i = next(t, i) {
		e := t[i].Load()
		if e == nil {
			return
		}
		if e != x.tomb && x.key(e) == k {
			t[i].Store(x.tomb)
			x.live--
			break
		}
	}
	if x.live == 0 {
		x.tab.Store(nil)
		x.used = 0
	} else if x.live*6 < len(t) && len(t) > minSlots {
		x.resize(x.live)
	}
}

// each calls f for every entry. Lock-free; it sees the table as it was
// when each started, or later.
func (x *index[T, L]) each(f func(*Entry[T, L])) {
	if p := x.tab.Load(); p != nil {
		for i := range *p {
			if e := (*p)[i].Load(); e != nil && e != x.tomb {
				f(e)
			}
		}
	}
}

func (x *index[T, L]) slots() int {
	if p := x.tab.Load(); p != nil {
		return len(*p)
	}
	return 0
}

// resize publishes a table with room for n entries at a third full, with
// the live entries and no tombstones. Writers only.
func (x *index[T, L]) resize(n int) {
	t := make([]atomic.Pointer[Entry[T, L]], max(minSlots, 3*n))
	x.each(func(e *Entry[T, L]) {
		i := x.start(t, x.key(e))
		for t[i].Load() != nil {
			i = next(t, i)
		}
		t[i].Store(e)
	})
	x.used = x.live
	x.tab.Store(&t)
}
