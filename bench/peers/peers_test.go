package main

import (
	"math"
	"os"
	"strings"
	"testing"
	"time"
)

// A test binary re-executed by the idle scenario is its child.
func TestMain(m *testing.M) {
	if arg := os.Getenv(childEnv); arg != "" {
		childMain(arg)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// tinyConfig is a grid small enough for a test: every scenario, both
// securities, real sockets on 127.0.0.1.
func tinyConfig() *config {
	return &config{
		quick: true, duration: 200 * time.Millisecond, warmup: 50 * time.Millisecond,
		callers: []int{1, 4}, payloads: []int{128}, security: []bool{false, true},
		nodes: []int{20}, idleConns: 20, setupConns: 5, messages: 20, bcastInflight: 4,
	}
}

// run measures every case of a scenario and fails on a row's error.
func run(t *testing.T, name string) []Result {
	t.Helper()
	sel, err := selectScenarios(name)
	if err != nil {
		t.Fatal(err)
	}
	var rs []Result
	for _, c := range sel[0].cases(tinyConfig()) {
		r := measure(c)
		if r.Error != "" {
			t.Errorf("%s %s %s: %s", r.Scenario, r.Params, r.Impl, r.Error)
		}
		rs = append(rs, r)
	}
	setRatios(rs)
	return rs
}

func TestReqRep(t *testing.T) {
	rs := run(t, "reqrep")
	if len(rs) != 2*2*3 {
		t.Fatalf("%d rows, want 12", len(rs))
	}
	for _, r := range rs {
		// Allocations are measured (not NaN) and may be 0: antnet's secure
		// request to one caller reuses everything it needs.
		if r.Ops <= 0 || r.OpsPerSec <= 0 || r.P50us <= 0 || r.P99us < r.P50us || r.AllocsPerOp < 0 || math.IsNaN(r.AllocsPerOp) {
			t.Errorf("%s %s: ops %d, %.0f/s, p50 %.1f p99 %.1f, allocs %.1f", r.Params, r.Impl, r.Ops, r.OpsPerSec,
				r.P50us, r.P99us, r.AllocsPerOp)
		}
		secure := strings.Contains(r.Params.String(), "links=secure")
		if secure != strings.Contains(r.Cipher, "ChaCha20-Poly1305") {
			t.Errorf("%s %s: cipher %q", r.Params, r.Impl, r.Cipher)
		}
		if r.Impl == implAntnet && r.Vs[implLibp2pStream] <= 0 {
			t.Errorf("%s: no ratio against %s", r.Params, implLibp2pStream)
		}
	}
}

func TestSetup(t *testing.T) {
	for _, r := range run(t, "setup") {
		if r.Ops != 5 || r.P50us <= 0 || r.OpsPerSec <= 0 {
			t.Errorf("%s %s: %d conns, p50 %.1f µs", r.Params, r.Impl, r.Ops, r.P50us)
		}
	}
}

func TestIdle(t *testing.T) {
	for _, r := range run(t, "idle") {
		// 20 connections move the heap by a few spans at most: antnet's
		// figure is noise around its 1-2 KiB; libp2p's 15-20 KiB shows.
		if r.Conns != 20 || math.Abs(r.HeapPerConn) > 256<<10 || math.IsNaN(r.BytesPerConn) ||
			r.Impl == implLibp2p && r.HeapPerConn < 4<<10 {
			t.Errorf("%s %s: %d conns, heap %.0f B/conn, RSS %.0f B/conn", r.Params, r.Impl, r.Conns, r.HeapPerConn, r.BytesPerConn)
		}
		// antnet holds no goroutine per connection; libp2p does.
		if r.Impl == implAntnet && r.GoroutinesPerConn >= 0.5 || r.Impl == implLibp2p && r.GoroutinesPerConn < 1 {
			t.Errorf("%s %s: %.2f goroutines per connection", r.Params, r.Impl, r.GoroutinesPerConn)
		}
	}
}

func TestBroadcast(t *testing.T) {
	rs := run(t, "broadcast")
	if len(rs) != 3 {
		t.Fatalf("%d rows, want 3", len(rs))
	}
	for _, r := range rs {
		if r.Coverage != 1 || r.HandlerDups != 0 || r.Messages != 20 {
			t.Errorf("%s: coverage %.4f, %v handler duplicates, %d messages", r.Impl, r.Coverage, r.HandlerDups, r.Messages)
		}
		// Every delivery took at least one payload copy and its bytes.
		if r.CopiesPerDelivery < 1 || r.BytesPerDelivery < bcastPayload || r.P50us <= 0 {
			t.Errorf("%s: %.2f copies and %.0f TCP bytes per delivery, p50 %.0f µs", r.Impl, r.CopiesPerDelivery,
				r.BytesPerDelivery, r.P50us)
		}
	}
}
