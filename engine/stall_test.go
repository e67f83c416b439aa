package engine

import (
	"log/slog"
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/proto"
)

// A handler that blocks its loop for 300 ms is named: Stats.LoopStalls
// counts every stall, and one Warn line per log interval (a second) says
// which loop, which callback, that a request handler ran in it and how long
// it took; the next line says how many stalls went unlogged meanwhile.
func TestStalledLoopNamed(t *testing.T) {
	const block = 300 * time.Millisecond
	h := proto.HandlerFunc(func(_ proto.Context, msg []byte) ([]byte, error) {
		if string(msg) == "block" {
			time.Sleep(block) // breaks the Handler contract on purpose
		}
		return msg, nil
	})
	rec := newRecorder()
	// A threshold under the block but well above what a loaded machine
	// adds to a callback, so that only the blocking handler counts.
	srv := startNode(t, "srv", h, WithEventLoops(1), WithLogger(slog.New(rec)), WithStallThreshold(200*time.Millisecond))
	cli := startNode(t, "cli", nil)
	linkNodes(t, cli, srv)
	dispatch := func(msg string) {
		t.Helper()
		if got, err := cli.Dispatch("srv", []byte(msg)); err != nil || string(got) != msg {
			t.Fatalf("Dispatch(%q) = %q, %v", msg, got, err)
		}
	}
	for range 20 {
		dispatch("fast")
	}
	if got := srv.Stats().LoopStalls; got != 0 {
		t.Fatalf("LoopStalls = %d with handlers that return at once", got)
	}
	// The second stall comes within the log interval (an hour here, so
	// that a slow machine cannot stretch two stalls a second apart): it is
	// counted, not logged.
	srv.stalls.SetEvery(time.Hour)
	dispatch("block")
	dispatch("block")
	// The loop counts a stall once the callback that answered ends.
	eventually(t, 2*time.Second, "two stalls counted", func() bool { return srv.Stats().LoopStalls >= 2 })
	if got := srv.Stats().LoopStalls; got != 2 {
		t.Fatalf("LoopStalls = %d after two blocking handlers, want 2", got)
	}
	// The loop counts a stall before it writes the line.
	eventually(t, 2*time.Second, "the first stall's line", func() bool { return len(rec.records(stallMsg)) >= 1 })
	lines := rec.records(stallMsg)
	if len(lines) != 1 {
		t.Fatalf("%d stall lines for two stalls within a second, want 1:\n%s", len(lines), rec.dump())
	}
	check := func(l logRecord, unlogged string) {
		t.Helper()
		took, err := time.ParseDuration(l.attrs["took"])
		if l.level != slog.LevelWarn || l.attrs["loop"] != "0" || l.attrs["callback"] != "OnTraffic" ||
			l.attrs["ran"] != "request handler" || err != nil || took < block || l.attrs["unlogged"] != unlogged {
			t.Fatalf("stall line %s %v: want Warn, loop 0, OnTraffic, request handler, took >= %v, unlogged %s", l.level, l.attrs, block, unlogged)
		}
	}
	check(lines[0], "0")
	srv.stalls.SetEvery(1) // the interval has passed
	dispatch("block")
	eventually(t, 2*time.Second, "the third stall counted", func() bool { return srv.Stats().LoopStalls == 3 })
	eventually(t, 2*time.Second, "the third stall's line", func() bool { return len(rec.records(stallMsg)) >= 2 })
	lines = rec.records(stallMsg)
	if len(lines) != 2 {
		t.Fatalf("%d stall lines, want 2:\n%s", len(lines), rec.dump())
	}
	check(lines[1], "1")
	t.Logf("%s %v", lines[1].msg, lines[1].attrs)

	// A peer events callback that blocks the loop is named too.
	rec = newRecorder()
	ev := startNode(t, "ev", h, WithEventLoops(1), WithLogger(slog.New(rec)), WithStallThreshold(200*time.Millisecond),
		WithPeerEvents(func(e PeerEvent) {
			if e.Up {
				time.Sleep(block) // as much against the contract as in a handler
			}
		}))
	linkNodes(t, cli, ev)
	eventually(t, 2*time.Second, "the callback's stall counted", func() bool { return ev.Stats().LoopStalls == 1 })
	eventually(t, 2*time.Second, "the callback's stall line", func() bool { return len(rec.records(stallMsg)) >= 1 })
	if lines := rec.records(stallMsg); len(lines) != 1 || lines[0].attrs["ran"] != "peer events callback" {
		t.Fatalf("stall lines for a blocking peer events callback:\n%s", rec.dump())
	}

	// WithStallThreshold(0) turns the watch off.
	off := startNode(t, "off", h, WithEventLoops(1), WithStallThreshold(0))
	linkNodes(t, cli, off)
	if _, err := cli.Dispatch("off", []byte("block")); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Dispatch("off", []byte("fast")); err != nil { // on the same loop: the blocking callback has ended
		t.Fatal(err)
	}
	if got := off.Stats().LoopStalls; got != 0 {
		t.Fatalf("LoopStalls = %d with the watch off", got)
	}
}
