// Package connset is a set of links that each know their slot in it: a
// slice under a mutex, removal by swapping the last link into the freed
// slot, about 10 bytes a link (a pointer in the slice and the slot in the
// link). Range and Sweep visit the links outside the lock.
package connset

import "sync"

// Slot is a member's index in its set, kept in the member: embed it. The
// zero Slot is in no set.
type Slot struct {
	i int32 // index+1 in the set's list, 0 when not in it
}

// slot gives the set the Slot a member embeds.
func (s *Slot) slot() *Slot { return s }

// Member is what a Set holds: a pointer to a struct that embeds a Slot.
type Member interface {
	comparable
	slot() *Slot
}

// Set is a set of links, safe for concurrent use. Range calls f on a
// snapshot taken under the lock, so f may do anything, and the links that
// come and go meanwhile may or may not be seen. The zero Set is empty.
type Set[T Member] struct {
	mu   sync.Mutex
	list []T // a member's Slot is its index here, plus one
}

// Store adds m, which is not in the set.
func (s *Set[T]) Store(m T) {
	s.mu.Lock()
	s.list = append(s.list, m)
	m.slot().i = int32(len(s.list))
	s.mu.Unlock()
}

// LoadAndDelete removes m and reports whether it was there.
func (s *Set[T]) LoadAndDelete(m T) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := int(m.slot().i) - 1
	if i < 0 || i >= len(s.list) || s.list[i] != m {
		return false
	}
	last := len(s.list) - 1
	moved := s.list[last]
	s.list[i], moved.slot().i = moved, int32(i+1)
	var none T
	s.list[last] = none
	s.list = s.list[:last]
	m.slot().i = 0
	if c := cap(s.list); c > 64 && len(s.list) < c/4 {
		s.list = append([]T(nil), s.list...) // give back what a crowd left
	}
	return true
}

// Range calls f for every link in the set until f returns false. Its
// snapshot is 8 bytes a link of garbage: for Close, PeerStates and a dead
// reactor, which must see every link.
func (s *Set[T]) Range(f func(m T) bool) {
	s.mu.Lock()
	list := append([]T(nil), s.list...)
	s.mu.Unlock()
	for _, m := range list {
		if !f(m) {
			break
		}
	}
}

// SweepChunk is how many links Sweep copies under the lock at a time.
const SweepChunk = 128

// Sweep calls f for the links in the set, copied under the lock a chunk at
// a time onto the stack: no garbage, nothing kept, the lock held briefly.
// Removal swaps the last link into the freed slot, so a link removed while
// Sweep runs may let the one moved into its slot go unvisited until the
// next call; none is visited twice. For the tick's sweep.
func (s *Set[T]) Sweep(f func(m T)) {
	var chunk [SweepChunk]T
	for i := 0; ; i += SweepChunk {
		s.mu.Lock()
		k := copy(chunk[:], s.list[min(i, len(s.list)):])
		s.mu.Unlock()
		for _, m := range chunk[:k] {
			f(m)
		}
		if k < SweepChunk {
			return
		}
	}
}
