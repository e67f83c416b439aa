package engine

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/antnet-p2p/antnet/internal/loglimit"
)

// Diagnostics. Every line a remote peer can cause (a refused socket, a link
// closed for a protocol violation) goes through the node's logLimit, so a
// flood of bad sockets costs at most loglimit.Burst lines at once, then one
// per loglimit.Every, plus one summary line per loglimit.SummaryEvery while
// lines are being dropped. The limiter has no goroutine: the summary is written by the
// ticker's sweep.

// logRemote reports whether a line at level, caused by a remote peer, may
// be written now: the logger takes that level and the rate limit has room.
// Callers build the line's arguments only when it returns true.
func (n *Node) logRemote(level slog.Level) bool {
	return n.log.Enabled(context.Background(), level) && n.logs.Allow(monoNow())
}

// monoBase anchors monoNow.
var monoBase = time.Now()

// monoNow is a monotonic clock in nanoseconds: the rate limit does not
// jump with the wall clock.
func monoNow() int64 { return int64(time.Since(monoBase)) }

// refused logs, within the rate limit, that an accepted socket was refused
// and why. Protocol violations are Warn, the rest (limits, timeouts, keys)
// Info.
func (n *Node) refused(level slog.Level, remote string, why any) {
	if n.logRemote(level) {
		n.log.Log(context.Background(), level, "refused connection", "remote", remote, "reason", why)
	}
}

// logSuppressed writes the summary line when lines were dropped. Ticker.
func (n *Node) logSuppressed() {
	if d := n.logs.Due(monoNow()); d > 0 {
		n.log.Warn("log rate limit: refusals and protocol errors not logged", "suppressed", d,
			"limit", strconv.Itoa(loglimit.Burst)+" then 1 per "+loglimit.Every.String())
	}
}

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
