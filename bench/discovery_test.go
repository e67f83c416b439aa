package main

import (
	"testing"
	"time"
)

func TestDiscoverySmall(t *testing.T) {
	cfg := &config{quick: true, duration: 150 * time.Millisecond, warmup: 50 * time.Millisecond}
	var r Result
	if err := discoveryRun(8, cfg, &r); err != nil {
		t.Fatal(err)
	}
	d := r.Discovery
	if d == nil || r.Duplicates == nil || *r.Duplicates != 0 || r.ReachedAll == nil || !*r.ReachedAll {
		t.Fatalf("%+v", r)
	}
	if d.FormS <= 0 || d.ReformS <= 0 || d.Killed != 1 || d.DegreeMin < discLow || d.DegreeMax > discHigh {
		t.Fatalf("figures: %s", d)
	}
	if d.Formed.Min != 1 || d.Reformed.Min != 1 || d.Formed.Broadcasts == 0 || d.FDsPerNode <= 0 || d.ThreadsPerNode < 0 {
		t.Fatalf("figures: %s", d)
	}
	t.Log(d)
}
