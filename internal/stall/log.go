package stall

import (
	"log/slog"
	"strings"
	"time"
)

// Log is a Watch whose reports are log lines: one Warn line, Msg, naming
// the loop, the callback, what ran in it, how long it took and the stalls
// left unlogged since the last line. Set every field before first use.
type Log struct {
	Watch
	Log *slog.Logger
	Msg string
	// Names names what ran: Names[i] is bit i of the ran mask End is
	// given; None is the name of an empty mask.
	Names []string
	None  string
}

// End takes a callback of loop that ran from start to now (a monotonic
// clock in nanoseconds), with ran the mask of what ran in it, and logs it
// if the watch reports it. Allocates only when it logs.
func (l *Log) End(loop int, callback string, ran uint8, start, now int64) {
	if took, report, unlogged := l.Watch.End(start, now); report {
		l.Log.Warn(l.Msg, "loop", loop, "callback", callback, "ran", l.ranNames(ran),
			"took", took.Round(time.Millisecond), "threshold", l.Threshold, "unlogged", unlogged)
	}
}

// ranNames names the bits of ran, or None.
func (l *Log) ranNames(ran uint8) string {
	var names []string
	for i, name := range l.Names {
		if ran&(1<<i) != 0 {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return l.None
	}
	return strings.Join(names, ", ")
}
