package broadcast

import (
	"testing"
	"time"
)

// first records id with ttl 3 and reports whether it was new.
func first(s *seenSet, id uint64, now time.Time) bool {
	f, _ := s.sight(id, 3, now)
	return f
}

func TestSeenSetBounded(t *testing.T) {
	now := time.Now()
	set := newSeenSet(1000, time.Hour, now)
	s := &set
	for id := range uint64(100_000) {
		if !first(s, id+1, now) {
			t.Fatalf("fresh id %d reported seen", id+1)
		}
		if s.len() > 1000 {
			t.Fatalf("seen set grew to %d", s.len())
		}
	}
	// The newest ids are still recognised.
	if first(s, 100_000, now) {
		t.Fatal("recent id forgotten")
	}
	// Age: after two windows an id is forgotten.
	set = newSeenSet(1000, time.Minute, now)
	first(s, 7, now)
	if first(s, 7, now.Add(59*time.Second)) {
		t.Fatal("id forgotten inside the window")
	}
	first(s, 8, now.Add(61*time.Second))  // rotates: 7 moves to prev
	first(s, 9, now.Add(122*time.Second)) // rotates: 7 dropped
	if !first(s, 7, now.Add(123*time.Second)) {
		t.Fatal("id remembered past two windows")
	}
}
