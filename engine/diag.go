package engine

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/antnet-p2p/antnet/codec"
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

// firstFrameError explains a frame the node could not decode before the
// handshake from the bytes the peer sent (prefix: up to 8 of them): another
// protocol's text, a length no antnet node sends, another wire version. The
// result wraps err.
func firstFrameError(prefix []byte, err error) error {
	if len(prefix) >= 4 && printable(prefix) {
		return fmt.Errorf("peer speaks another protocol (starts with %q): not an antnet node? (%w)", prefix, err)
	}
	var se *codec.SizeError
	if errors.As(err, &se) {
		size := uint64(binary.BigEndian.Uint32(prefix)) + 4
		return fmt.Errorf("peer sent a frame of %s before the handshake: not an antnet node? (%w)", humanBytes(size), err)
	}
	if errors.Is(err, codec.ErrVersion) && len(prefix) >= 5 {
		return fmt.Errorf("peer speaks antnet wire version %d, this node %d (%w)", prefix[4], codec.Version, err)
	}
	return fmt.Errorf("malformed first frame: %w", err)
}

// printable reports whether b is printable ASCII (tabs and line ends
// included): the start of a text protocol.
func printable(b []byte) bool {
	for _, c := range b {
		if (c < 0x20 || c > 0x7e) && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
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

// silentClose is the dialer's error when the peer closed the socket during
// the handshake without a refusal frame. err is OnClose's (nil or io.EOF
// for an orderly close).
func silentClose(secure bool, err error) error {
	step := "before hello-ack"
	if secure {
		step = "during the secure handshake"
	}
	how := "closed the connection"
	if err != nil && !errors.Is(err, io.EOF) {
		how = "dropped the connection (" + err.Error() + ")"
	}
	return fmt.Errorf("%w: peer %s %s without saying why: a plain/secure mismatch, a limit or a handshake timeout on its side, or not an antnet node? see its log",
		ErrHandshake, how, step)
}
