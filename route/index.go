package route

import (
	"hash/maphash"
	"sync/atomic"
)

// indexShards is the number of shards of an index: a write copies one, so
// at 10,000 entries it copies about 40.
const indexShards = 256

// index is a map from strings with lock-free reads: shards of immutable
// maps, each behind an atomic pointer. Writers (serialised by the table's
// mutex) copy the one shard they change and publish the copy. An entry
// costs its key, its value and a map slot, about 30-40 bytes, where a
// sync.Map entry costs about 120 (trie nodes, a boxed key); the price is a
// write that copies a shard, a few microseconds at 10,000 entries.
type index[V any] struct {
	seed   maphash.Seed
	shards [indexShards]atomic.Pointer[map[string]V]
}

func (x *index[V]) init() { x.seed = maphash.MakeSeed() }

func (x *index[V]) shard(k string) *atomic.Pointer[map[string]V] {
	return &x.shards[maphash.String(x.seed, k)%indexShards]
}

// load returns k's value. Lock-free.
func (x *index[V]) load(k string) (V, bool) {
	if m := x.shard(k).Load(); m != nil {
		v, ok := (*m)[k]
		return v, ok
	}
	var zero V
	return zero, false
}

// store sets k to v. Writers only (under the table's mutex).
func (x *index[V]) store(k string, v V) {
	s := x.shard(k)
	var old map[string]V
	if m := s.Load(); m != nil {
		old = *m
	}
	m := make(map[string]V, len(old)+1)
	for ok, ov := range old {
		m[ok] = ov
	}
	m[k] = v
	s.Store(&m)
}

// delete removes k. Writers only.
func (x *index[V]) delete(k string) {
	s := x.shard(k)
	p := s.Load()
	if p == nil {
		return
	}
	if _, ok := (*p)[k]; !ok {
		return
	}
	if len(*p) == 1 {
		s.Store(nil)
		return
	}
	m := make(map[string]V, len(*p)-1)
	for ok, ov := range *p {
		if ok != k {
			m[ok] = ov
		}
	}
	s.Store(&m)
}

// each calls f for every value. Lock-free; a shard is seen as it was when
// f reached it.
func (x *index[V]) each(f func(V)) {
	for i := range x.shards {
		if m := x.shards[i].Load(); m != nil {
			for _, v := range *m {
				f(v)
			}
		}
	}
}
