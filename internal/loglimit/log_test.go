package loglimit

import (
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/antnet-p2p/antnet/internal/testkit"
)

// Refused writes Burst lines of a flood and drops the rest without an
// allocation; Summary then counts them in one Warn line. A level the
// logger does not take is not written and takes no token.
func TestLogRefusedAndSummary(t *testing.T) {
	var out testkit.Buffer
	l := Log{Log: slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	l.Limit.SummaryEvery = 1 // due as soon as a line is dropped
	for range 100 {
		if l.Allow(slog.LevelDebug) {
			t.Fatal("Allow took a level the logger does not")
		}
	}
	cause := errors.New("speaks another protocol")
	for range Burst + 5 {
		l.Refused(slog.LevelWarn, "127.0.0.1:1", cause)
	}
	if got := strings.Count(out.String(), "refused connection"); got != Burst {
		t.Fatalf("%d lines of %d written, want the burst %d:\n%s", got, Burst+5, Burst, out.String())
	}
	if !strings.Contains(out.String(), `remote=127.0.0.1:1 reason="speaks another protocol"`) {
		t.Fatalf("line without remote and reason:\n%s", out.String())
	}
	if a := testing.AllocsPerRun(100, func() { l.Refused(slog.LevelWarn, "127.0.0.1:1", cause) }); a != 0 {
		t.Fatalf("a dropped line allocated %.0f times", a)
	}
	l.Summary()
	if !strings.Contains(out.String(), "log rate limit") || !strings.Contains(out.String(), "suppressed=") {
		t.Fatalf("no summary line:\n%s", out.String())
	}
	lines := out.String()
	l.Summary()
	if out.String() != lines {
		t.Fatal("a second summary with nothing dropped since")
	}
}
