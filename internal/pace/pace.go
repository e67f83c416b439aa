// Package pace schedules the wake-ups of links paused at a high-water mark.
//
// gnet has no callback for "the socket drained", so a link whose peer has
// not read what the node holds for it is looked at again on a schedule:
// every Min while the peer keeps reading, backing off (doubling) to Max
// while it does not. The pacer only keeps the schedule; the caller's wake
// function does the looking. No goroutine, no timer: the caller polls
// WakeDue from its own ticker.
package pace

import (
	"sync"
	"time"
)

// Pacer holds the paused links, keyed by K, and when each is due. The zero
// value is not usable: set Min and Max. Safe for concurrent use; every
// method takes one lock. Empty, it costs nothing but the struct; each held
// link costs one map entry.
type Pacer[K comparable] struct {
	Min time.Duration // the wait while the peer reads
	Max time.Duration // the longest wait, for a peer that does not read

	mu    sync.Mutex
	links map[K]pacing
}

type pacing struct {
	at    time.Time     // next wake
	every time.Duration // Min while the peer reads, doubling to Max while it does not
}

// Hold (re)schedules k's next wake: Min from now if it progressed (its peer
// read something since the last look) or is new, else twice its last wait,
// up to Max.
func (p *Pacer[K]) Hold(k K, progressed bool, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.links == nil {
		p.links = make(map[K]pacing)
	}
	e := p.links[k]
	if progressed || e.every == 0 {
		e.every = p.Min
	} else {
		e.every = min(2*e.every, p.Max)
	}
	e.at = now.Add(e.every)
	p.links[k] = e
}

// Release forgets k.
func (p *Pacer[K]) Release(k K) {
	p.mu.Lock()
	delete(p.links, k)
	p.mu.Unlock()
}

// Len returns how many links are held.
func (p *Pacer[K]) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.links)
}

// WakeDue calls wake for every link whose time has come, schedules its next
// look at the same interval, and returns the wait until the next link is
// due (at most Max); false when no link is held. wake runs under the
// pacer's lock: it must not call back into the pacer.
func (p *Pacer[K]) WakeDue(now time.Time, wake func(K)) (time.Duration, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.links) == 0 {
		return 0, false
	}
	next := p.Max
	for k, e := range p.links {
		if !now.Before(e.at) {
			wake(k)
			e.at = now.Add(e.every)
			p.links[k] = e
		}
		next = min(next, e.at.Sub(now))
	}
	return next, true
}
