package broadcast

import (
	"errors"
	"fmt"
	"time"
)

// Config sets a Tree's bounds and timers. The zero value of a field takes
// its default.
type Config struct {
	// SeenCapacity bounds the broadcast ids remembered (default 131072,
	// about 40 bytes each). An id is recognised for at least SeenWindow
	// unless more than half this many newer ids arrive first.
	SeenCapacity int
	// SeenWindow is how long an id is remembered at least (default 2 min).
	SeenWindow time.Duration
	// CacheBytes bounds the payloads kept to answer grafts, each counted
	// with its bookkeeping (about 350 bytes) (default 16 MiB).
	CacheBytes int
	// CacheAge is how long a payload is kept to answer grafts, and how long
	// an id announced but never received is waited for (default 10 s). It
	// must be below SeenWindow: a node never sends a payload that its
	// neighbours may already have forgotten delivering.
	CacheAge time.Duration
	// AnnounceEvery is how long ids wait to be announced on lazy links, so
	// several go in one ihave, and the neighbours that announce them first
	// need not be announced them back (default 200 ms: an eager copy that
	// lags a neighbour's by less than this plus GraftTimeout costs no
	// graft). A better budget for an id already announced waits up to 4
	// times as long.
	AnnounceEvery time.Duration
	// GraftTimeout is how long a node waits for the eager copy of an id it
	// heard announced before it grafts the announcer (default 250 ms, plus
	// up to half again at random).
	GraftTimeout time.Duration
	// GraftRetry is how long it waits for a graft's answer before it
	// grafts the next announcer (default 250 ms).
	GraftRetry time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Wake asks the host to call Tick about d from now; a call replaces
	// the one before (one timer, reset). It is called with the tree's lock
	// held: it must not block or call the tree. Nil: the host ticks on its
	// own schedule.
	Wake func(d time.Duration)
}

// ErrBadConfig is returned by New for a Config out of range.
var ErrBadConfig = errors.New("broadcast: bad config")

func (c *Config) setDefaults() {
	if c.SeenCapacity == 0 {
		c.SeenCapacity = 1 << 17
	}
	if c.SeenWindow == 0 {
		c.SeenWindow = 2 * time.Minute
	}
	if c.CacheBytes == 0 {
		c.CacheBytes = 16 << 20
	}
	if c.CacheAge == 0 {
		c.CacheAge = 10 * time.Second
	}
	if c.AnnounceEvery == 0 {
		c.AnnounceEvery = 200 * time.Millisecond
	}
	if c.GraftTimeout == 0 {
		c.GraftTimeout = 250 * time.Millisecond
	}
	if c.GraftRetry == 0 {
		c.GraftRetry = 250 * time.Millisecond
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

func (c *Config) validate() error {
	switch {
	case c.SeenCapacity < 2:
		return fmt.Errorf("%w: SeenCapacity %d, want at least 2", ErrBadConfig, c.SeenCapacity)
	case c.CacheBytes < 0:
		return fmt.Errorf("%w: CacheBytes %d", ErrBadConfig, c.CacheBytes)
	case c.SeenWindow <= 0 || c.CacheAge <= 0 || c.AnnounceEvery <= 0 || c.GraftTimeout <= 0 || c.GraftRetry <= 0:
		return fmt.Errorf("%w: durations must be positive", ErrBadConfig)
	case c.CacheAge >= c.SeenWindow:
		return fmt.Errorf("%w: CacheAge %v must be below SeenWindow %v", ErrBadConfig, c.CacheAge, c.SeenWindow)
	}
	return nil
}
