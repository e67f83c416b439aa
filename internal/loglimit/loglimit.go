// Package loglimit bounds the log lines a remote party can cause: a token
// bucket of Burst lines, refilled one per Every, and a count of the lines
// it dropped for a summary line at most once per summary interval. No
// goroutine: the caller asks Due from its own ticker.
package loglimit

import (
	"sync"
	"time"
)

const (
	Burst        = 10                     // lines allowed back to back before the limit applies
	Every        = 500 * time.Millisecond // then one more line per interval: 2 a second
	SummaryEvery = 10 * time.Second       // a "suppressed N" summary at most this often
)

// Limiter is a token bucket for log lines, on a monotonic clock in
// nanoseconds the caller passes in. The zero value is ready, full. Safe for
// concurrent use; each call takes one lock and allocates nothing.
type Limiter struct {
	// SummaryEvery is how long after the first dropped line Due reports
	// them; 0 means the package's SummaryEvery. Set before first use.
	SummaryEvery time.Duration

	mu           sync.Mutex
	tokens       int
	refilled     int64 // now when the tokens were last counted
	suppressed   uint64
	firstDropped int64 // now of the first line dropped since the last summary
	started      bool
}

// Allow takes a token and reports whether a line may be written at now; if
// not, it counts the line as suppressed.
func (l *Limiter) Allow(now int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.started {
		l.started, l.tokens, l.refilled = true, Burst, now
	}
	if add := (now - l.refilled) / int64(Every); add > 0 {
		l.tokens = int(min(int64(Burst), int64(l.tokens)+add))
		l.refilled += add * int64(Every)
	}
	if l.tokens > 0 {
		l.tokens--
		return true
	}
	if l.suppressed == 0 {
		l.firstDropped = now
	}
	l.suppressed++
	return false
}

// Due returns how many lines were dropped since the last summary, and
// resets the count, once the summary interval has passed since the first
// of them; else 0.
func (l *Limiter) Due(now int64) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	every := l.SummaryEvery
	if every <= 0 {
		every = SummaryEvery
	}
	if l.suppressed == 0 || now-l.firstDropped < int64(every) {
		return 0
	}
	n := l.suppressed
	l.suppressed = 0
	return n
}
