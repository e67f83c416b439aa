// Package claim is a table of claims: at most one holder per key at a
// time. Whoever finds a key free, or held by a holder that is done, holds
// it; the others are shown the holder. A sync.Map: a claim of a new key
// allocates its entry.
package claim

import "sync"

// Table maps a key to its holder. The zero Table is empty; safe for
// concurrent use.
type Table[K, H comparable] struct {
	m sync.Map // K -> H
}

// Claim makes h the holder of k and reports false, or returns the holder
// in place and true. A holder for which done reports true has finished
// and is taken over: Claim then holds k for h.
func (t *Table[K, H]) Claim(k K, h H, done func(H) bool) (H, bool) {
	for {
		v, held := t.m.LoadOrStore(k, h)
		if !held {
			var none H
			return none, false
		}
		holder := v.(H)
		if !done(holder) {
			return holder, true
		}
		if t.m.CompareAndSwap(k, holder, h) {
			var none H
			return none, false
		}
	}
}

// Release drops h's claim on k, if h still holds it.
func (t *Table[K, H]) Release(k K, h H) { t.m.CompareAndDelete(k, h) }

// Holder returns k's holder, done or not, if it has one.
func (t *Table[K, H]) Holder(k K) (H, bool) {
	v, ok := t.m.Load(k)
	if !ok {
		var none H
		return none, false
	}
	return v.(H), true
}
