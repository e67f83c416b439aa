package upkeep

import (
	"errors"
	"time"
)

// Redialing. A static route whose link is lost, or whose first connect
// failed, is redialed from the tick: the core starts a dial without
// waiting and the tick polls it. After each failure the wait doubles, from
// RedialBase up to RedialMax, with ±20% jitter. It stops when the route has
// a link on a tick (either side may have dialed; a link that came up and
// went down again between ticks does not count) or the route is gone. A
// learned route (a peer from the book) is dialed once: on failure the route
// goes and the book backs the address off.

// tickRedials takes the queued redials and advances every one. It reports
// whether one is dialing or due within Config.Quiet.
func (u *Upkeep[R]) tickRedials(now time.Time) (pending bool) {
	u.mu.Lock()
	for r, q := range u.queued {
		if _, ok := u.redials[r]; !ok {
			u.redials[r] = &redial{id: q.id, due: q.due}
		}
		delete(u.queued, r)
	}
	type item struct {
		r R
		d *redial
	}
	list := make([]item, 0, len(u.redials))
	for r, d := range u.redials {
		list = append(list, item{r, d})
	}
	u.mu.Unlock()
	for _, it := range list {
		u.advance(it.r, it.d, now)
	}
	soon := now.Add(u.cfg.Quiet)
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, d := range u.redials {
		if d.dial != nil || d.due.Before(soon) {
			return true
		}
	}
	return false
}

// advance moves one redial on: drops it when its route is gone, linked or
// no longer static; starts its dial when due; polls the dial in flight.
// Tick, without mu.
func (u *Upkeep[R]) advance(r R, d *redial, now time.Time) {
	got, linked, ok := u.core.Route(d.id.Addr)
	if !ok || got != r || !(d.learned || u.core.IsStatic(d.id.Addr)) {
		if d.dial != nil {
			d.dial.Abort()
		}
		u.remove(r, d)
		return
	}
	if d.dial == nil {
		switch {
		case linked: // the peer dialed us
			u.remove(r, d)
		case now.Before(d.due):
		case !d.learned && u.waitForRoom(d.id.Addr):
			u.set(d, nil, now.Add(jitter(u.cfg.RedialMax)))
		default:
			dial, err := u.core.Dial(r)
			switch {
			case errors.Is(err, ErrDialing): // the owner's AddRoute dials it
			case err != nil:
				u.retry(r, d, now)
			default:
				u.set(d, dial, d.due)
			}
		}
		return
	}
	done, err := d.dial.Poll()
	switch {
	case !done:
	case err != nil:
		u.retry(r, d, now)
	default:
		if _, linked, _ := u.core.Route(d.id.Addr); !linked {
			// It linked and went down again before this tick: the route
			// still has no link, so go on redialing.
			d.attempt = -1
			u.retry(r, d, now)
			return
		}
		u.log.Info("reconnected", "peer", d.id.String(), "attempts", d.attempt+1)
		u.remove(r, d)
	}
}

// retry schedules the next attempt after a failed one; a learned route is
// not retried. Tick, without mu.
func (u *Upkeep[R]) retry(r R, d *redial, now time.Time) {
	if d.learned {
		u.learnedFailed(r, d, now)
		return
	}
	d.attempt++
	u.set(d, nil, now.Add(u.backoff(d.attempt)))
	u.log.Debug("redial failed", "peer", d.id.String(), "attempt", d.attempt, "next", d.due.Sub(now))
}

// learnedFailed drops a learned route whose dial failed; the book backs
// its address off. Tick, without mu.
func (u *Upkeep[R]) learnedFailed(r R, d *redial, now time.Time) {
	u.remove(r, d)
	u.mu.Lock()
	delete(u.keys, d.id.Addr)
	u.mu.Unlock()
	if u.book != nil {
		u.book.Failed(d.id.Addr, now)
	}
	u.core.Forget(r)
}

// set records d's dial in flight and next due time.
func (u *Upkeep[R]) set(d *redial, dial Dial, due time.Time) {
	u.mu.Lock()
	d.dial, d.due = dial, due
	u.mu.Unlock()
}

// remove drops redial d of r.
func (u *Upkeep[R]) remove(r R, d *redial) {
	u.mu.Lock()
	if u.redials[r] == d {
		delete(u.redials, r)
	}
	u.mu.Unlock()
}

// waitForRoom reports whether the redial of static route addr, whose peer
// trimmed our link for having too many, should wait another RedialMax:
// with discovery, while this node has its low mark of links it does not
// need the peer. Else every node started from one bootstrap would dial it
// again every RedialMax, for ever, and be trimmed again. O(links).
func (u *Upkeep[R]) waitForRoom(addr string) bool {
	if u.book == nil {
		return false
	}
	u.mu.Lock()
	_, trimmed := u.retiredUs[addr]
	u.mu.Unlock()
	return trimmed && len(u.core.Links()) >= u.cfg.Low
}

// learnedInFlight counts the learned dials scheduled or in flight.
func (u *Upkeep[R]) learnedInFlight() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	c := 0
	for _, d := range u.redials {
		if d.learned {
			c++
		}
	}
	return c
}
