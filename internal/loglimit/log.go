package loglimit

import (
	"context"
	"log/slog"
	"strconv"
	"time"
)

// Log writes the lines a remote party can cause (a refused socket, a link
// closed for a protocol violation) within Limit; the owner's ticker calls
// Summary for the lines dropped. Set Log before first use. Safe for
// concurrent use.
type Log struct {
	Log   *slog.Logger
	Limit Limiter
}

// Allow reports whether a line at level, caused by a remote party, may be
// written now: the logger takes that level and the limit has room.
// Callers build the line's arguments only when it returns true. A dropped
// line costs a lock and a count, no allocation.
func (l *Log) Allow(level slog.Level) bool {
	return l.Log.Enabled(context.Background(), level) && l.Limit.Allow(monoNow())
}

// Refused logs, within the limit, that an accepted socket was refused and
// why: "refused connection" with remote and reason.
func (l *Log) Refused(level slog.Level, remote string, why any) {
	if l.Allow(level) {
		l.Log.Log(context.Background(), level, "refused connection", "remote", remote, "reason", why)
	}
}

// Summary writes the Warn summary line when lines were dropped and the
// summary is due (Limiter.Due). The owner's ticker.
func (l *Log) Summary() {
	if d := l.Limit.Due(monoNow()); d > 0 {
		l.Log.Warn("log rate limit: refusals and protocol errors not logged", "suppressed", d,
			"limit", strconv.Itoa(Burst)+" then 1 per "+Every.String())
	}
}

// monoBase anchors monoNow.
var monoBase = time.Now()

// monoNow is a monotonic clock in nanoseconds: the limit does not jump
// with the wall clock.
func monoNow() int64 { return int64(time.Since(monoBase)) }
