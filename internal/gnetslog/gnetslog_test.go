package gnetslog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// expandCounter counts how often a line's arguments were formatted.
type expandCounter struct{ n *int }

func (e expandCounter) String() string { *e.n++; return "x" }

func TestLevelsAndComponent(t *testing.T) {
	var buf bytes.Buffer
	g := Logger{slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	g.Debugf("d %d", 1)
	g.Infof("i %d", 2)
	g.Warnf("w %d", 3)
	g.Errorf("e %d", 4)
	g.Fatalf("f %d", 5) // returns: the test goes on
	want := []string{"level=DEBUG msg=\"d 1\"", "level=DEBUG msg=\"i 2\"", "level=WARN msg=\"w 3\"", "level=ERROR msg=\"e 4\"", "level=ERROR msg=\"f 5\""}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), buf.String())
	}
	for i, l := range lines {
		if !strings.Contains(l, want[i]) || !strings.HasSuffix(l, "component=gnet") {
			t.Errorf("line %d: %q, want %q and component=gnet", i, l, want[i])
		}
	}
}

func TestLevelNotTakenIsNotFormatted(t *testing.T) {
	var buf bytes.Buffer
	g := Logger{slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	n := 0
	g.Infof("%v", expandCounter{&n})
	g.Debugf("%v", expandCounter{&n})
	if n != 0 || buf.Len() != 0 {
		t.Fatalf("lines below the level: formatted %d times, wrote %q", n, buf.String())
	}
	g.Warnf("%v", expandCounter{&n})
	if n != 1 || !strings.Contains(buf.String(), "msg=x") {
		t.Fatalf("warn line: formatted %d times, wrote %q", n, buf.String())
	}
}
