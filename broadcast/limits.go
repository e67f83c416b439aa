package broadcast

import "time"

// What one peer can make a node hold or send, whatever it sends. These are
// part of the protocol's contract (docs/PROTOCOL.md, "Broadcast trees").
const (
	// IHaveRate is the most announced ids a node takes from one link per
	// second (a burst of as many); the rest are ignored.
	IHaveRate = 4096
	// GraftRate is the most payloads a node sends one link per second in
	// answer to grafts (a burst of as many); the rest are not answered.
	GraftRate = 1024
	// MaxMissing is the most ids a node waits for at once (announced, not
	// yet received), and MaxMissingPerLink the most of them one link may
	// have announced first; announcements of new ids past either are
	// ignored.
	MaxMissing        = 8192
	MaxMissingPerLink = 1024
	// maxAnnouncers is the most announcers remembered for a missing id:
	// the most grafts one id costs.
	maxAnnouncers = 4
	// maxHolders is the most links remembered, per cached payload, as
	// already having it (they are not sent it or announced it again, and
	// a duplicate from one sent a copy with more ttl is not pruned): 16
	// bytes each for a pointer handle, covering the degrees of random
	// graphs of mean degree 6 at the bench's sizes.
	maxHolders = 16
)

// bucket is a token bucket of rate tokens a second, holding at most rate.
type bucket struct {
	tokens float64
	last   int64 // unix nanos of the last take, 0 for a new bucket (16 bytes a bucket, two a link)
}

// full reports whether b has refilled: it is as a new bucket.
func (b *bucket) full(rate float64, now time.Time) bool {
	return b.last == 0 || b.tokens+float64(now.UnixNano()-b.last)/float64(time.Second)*rate >= rate
}

// take takes one token, if there is one. A new bucket is full.
func (b *bucket) take(rate float64, now time.Time) bool {
	t := now.UnixNano()
	if b.last == 0 {
		b.tokens = rate
	} else if dt := float64(t-b.last) / float64(time.Second); dt > 0 {
		b.tokens = min(rate, b.tokens+dt*rate)
	}
	b.last = t
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
