package broadcast

import "time"

// seenSet remembers broadcast ids, each with the most ttl any copy of it
// carried, in two generations of at most half the capacity each. New ids
// go to the current generation; when it is full or older than the window
// it becomes the previous one and the old previous is dropped. An id is
// thus recognised for at least the window, unless more than half the
// capacity of new ids arrive first. About 40 bytes per id. Under Tree.mu.
type seenSet struct {
	cur, prev map[uint64]uint8 // id -> best ttl
	half      int
	window    time.Duration
	since     time.Time
}

func newSeenSet(capacity int, window time.Duration, now time.Time) seenSet {
	return seenSet{cur: make(map[uint64]uint8), half: max(capacity/2, 1), window: window, since: now}
}

// sight records a copy of id carrying ttl. first reports that id was new;
// better that it was known, but only from copies with less ttl.
func (s *seenSet) sight(id uint64, ttl uint8, now time.Time) (first, better bool) {
	for _, gen := range [2]map[uint64]uint8{s.cur, s.prev} {
		if best, ok := gen[id]; ok {
			if ttl <= best {
				return false, false
			}
			gen[id] = ttl
			return false, true
		}
	}
	if len(s.cur) >= s.half || now.Sub(s.since) >= s.window {
		s.prev, s.cur = s.cur, make(map[uint64]uint8, len(s.cur))
		s.since = now
	}
	s.cur[id] = ttl
	return true, false
}

// best returns the most ttl a copy of id carried, if id is remembered.
func (s *seenSet) best(id uint64) (uint8, bool) {
	if b, ok := s.cur[id]; ok {
		return b, true
	}
	b, ok := s.prev[id]
	return b, ok
}

// len is the number of ids remembered.
func (s *seenSet) len() int { return len(s.cur) + len(s.prev) }

// raise records that a copy of a remembered id carrying ttl exists.
func (s *seenSet) raise(id uint64, ttl uint8) {
	for _, gen := range [2]map[uint64]uint8{s.cur, s.prev} {
		if best, ok := gen[id]; ok {
			gen[id] = max(best, ttl)
			return
		}
	}
}
