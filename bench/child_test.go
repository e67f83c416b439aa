package main

import (
	"os"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for the bench binary as a child
// process (startChild re-executes os.Executable with -child).
func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == "-child" {
		childMain(os.Args[2])
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestLoadChild: the load generator in a child process against each server,
// its histogram carried back, and the server's memory per connection.
func TestLoadChild(t *testing.T) {
	for _, impl := range serverImpls {
		var r Result
		sp := loadSpec{peers: 8, inflight: 2, payload: 128, warmup: 50 * time.Millisecond,
			duration: 200 * time.Millisecond, proc: true}
		if err := serverLoad(impl, sp, &r); err != nil {
			t.Fatalf("%s: %v", impl, err)
		}
		if r.Ops <= 0 || r.P50us <= 0 || r.P99us < r.P50us || r.Conns != 8 || r.BytesPerConn == 0 {
			t.Fatalf("%s: %+v", impl, r)
		}
	}
}

// TestIdleChild: N idle peers in a child process; every server counts them
// and the figures are filled in. The goroutine server is the lean variant;
// antnet-secure's peers run Noise and seal their frames.
func TestIdleChild(t *testing.T) {
	defer func(d time.Duration) { idleSettle = d }(idleSettle)
	idleSettle = 100 * time.Millisecond // the plumbing, not the figures
	for _, impl := range append(serverImpls[:len(serverImpls):len(serverImpls)], implAntnetSecure) {
		var r Result
		if err := idleRun(impl, 50, &r); err != nil {
			t.Fatalf("%s: %v", impl, err)
		}
		if r.Conns != 50 || r.HeapPerConn <= 0 {
			t.Fatalf("%s: %+v", impl, r)
		}
		if impl == implGoroutine && r.Goroutines < 50 {
			t.Fatalf("goroutine server: %+v, want a goroutine per conn", r)
		}
	}
}

// TestRowChild: a -fresh row runs in a child and comes back with its
// figures; the parent keeps its own params.
func TestRowChild(t *testing.T) {
	cfg := &config{quick: true, duration: 200 * time.Millisecond, warmup: 50 * time.Millisecond, callers: []int{2}}
	sel, err := selectScenarios("reqrep-node")
	if err != nil {
		t.Fatal(err)
	}
	c := sel[0].cases(cfg)[0]
	c = freshCase(c, cfg.rowSpec("reqrep-node", 0))
	r := measure(c, newLeakCheck())
	if r.Error != "" || r.Ops <= 0 || r.Params.String() != "goroutines=2 payload=128" {
		t.Fatalf("%+v", r)
	}
}

// TestMedianSpread: medians of three runs, with the min–max beside them.
func TestMedianSpread(t *testing.T) {
	runs := []Result{{OpsPerSec: 300, P99us: 9}, {OpsPerSec: 100, P99us: 7}, {OpsPerSec: 200, P99us: 8, Error: ""}}
	m := median(runs)
	if m.OpsPerSec != 200 || m.P99us != 8 || m.Runs != 3 || m.Spread["ops_per_sec"] != [2]float64{100, 300} ||
		m.OpsMin != 100 || m.OpsMax != 300 {
		t.Fatalf("%+v", m)
	}
	if _, ok := m.Spread["p50_us"]; ok {
		t.Fatalf("a figure that did not vary has a spread: %+v", m.Spread)
	}
	if got := spread(&m, "ops_per_sec", m.OpsPerSec, 0); got != "200 [100–300]" {
		t.Fatalf("table cell %q", got)
	}
	// A failed first run gives neither figures nor its zero fields.
	runs = []Result{{Error: "boom"}, {OpsPerSec: 10, Conns: 5}, {OpsPerSec: 20, Conns: 5}}
	if m := median(runs); m.Error != "" || m.OpsPerSec != 15 || m.Conns != 5 || m.Runs != 2 {
		t.Fatalf("%+v", m)
	}
}
