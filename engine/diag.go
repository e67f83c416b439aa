package engine

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/antnet-p2p/antnet/internal/loglimit"
)

// peerLog writes the lines remote peers can cause (a refused socket, a
// link closed for a protocol violation) within internal/loglimit's rate
// limit; the ticker's sweep writes the summary of those dropped. Safe for
// concurrent use.
type peerLog struct {
	log   *slog.Logger
	limit loglimit.Limiter
}

// allow reports whether a line at level, caused by a remote peer, may be
// written now: the logger takes that level and the rate limit has room.
// Callers build the line's arguments only when it returns true.
func (l *peerLog) allow(level slog.Level) bool {
	return l.log.Enabled(context.Background(), level) && l.limit.Allow(monoNow())
}

// refused logs, within the rate limit, that an accepted socket was refused
// and why. Protocol violations are Warn, the rest (limits, timeouts, keys)
// Info.
func (l *peerLog) refused(level slog.Level, remote string, why any) {
	if l.allow(level) {
		l.log.Log(context.Background(), level, "refused connection", "remote", remote, "reason", why)
	}
}

// summary writes the summary line when lines were dropped. Ticker.
func (l *peerLog) summary() {
	if d := l.limit.Due(monoNow()); d > 0 {
		l.log.Warn("log rate limit: refusals and protocol errors not logged", "suppressed", d,
			"limit", strconv.Itoa(loglimit.Burst)+" then 1 per "+loglimit.Every.String())
	}
}

// monoBase anchors monoNow.
var monoBase = time.Now()

// monoNow is a monotonic clock in nanoseconds: rate limits do not jump
// with the wall clock.
func monoNow() int64 { return int64(time.Since(monoBase)) }

// humanBytes prints n bytes for a person: 1.2 GB, 80 KB, 12 B.
func humanBytes(n uint64) string {
	const unit = 1000
	if n < unit {
		return strconv.FormatUint(n, 10) + " B"
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return strconv.FormatFloat(float64(n)/float64(div), 'f', 1, 64) + " " + string("KMGT"[exp]) + "B"
}
