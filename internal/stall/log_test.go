package stall

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/internal/testkit"
)

// A reported stall is one Warn line naming the loop, the callback, the
// bits of what ran (or None) and how long it took; an unreported one
// writes nothing.
func TestLogNamesWhatRan(t *testing.T) {
	var out testkit.Buffer
	l := Log{Watch: Watch{Threshold: 100 * time.Millisecond}, Log: slog.New(slog.NewTextHandler(&out, nil)),
		Msg: "stalled", Names: []string{"request handler", "notice handler", "gossip handler"}, None: "the engine itself"}
	now := int64(time.Hour)
	l.End(2, "OnTraffic", 0b101, now, now+int64(301*time.Millisecond))
	line := out.String()
	for _, want := range []string{"level=WARN", "msg=stalled", "loop=2", "callback=OnTraffic",
		`ran="request handler, gossip handler"`, "took=301ms", "threshold=100ms", "unlogged=0"} {
		if !strings.Contains(line, want) {
			t.Fatalf("line %q lacks %s", line, want)
		}
	}
	l.End(0, "OnClose", 0, now, now+int64(200*time.Millisecond)) // within the second: counted, not logged
	if strings.Count(out.String(), "\n") != 1 {
		t.Fatalf("a stall within the interval was logged:\n%s", out.String())
	}
	now += int64(2 * time.Second)
	l.End(0, "OnClose", 0, now, now+int64(150*time.Millisecond))
	if !strings.Contains(out.String(), `ran="the engine itself"`) || !strings.Contains(out.String(), "unlogged=1") {
		t.Fatalf("empty mask or unlogged count not named:\n%s", out.String())
	}
	if l.Count() != 3 {
		t.Fatalf("Count %d, want 3", l.Count())
	}
}
