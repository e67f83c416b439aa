package engine

import (
	"context"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/internal/graph"
	"github.com/antnet-p2p/antnet/internal/link"
	"github.com/antnet-p2p/antnet/proto"
)

// A lone caller's request goes out from the caller's goroutine: no wake of
// the event loop, whose task and closure gnet allocates (2 per request
// before).
func TestLoneCallerRequestAllocatesNothing(t *testing.T) {
	if raceOn {
		t.Skip("allocation counts need the plain runtime")
	}
	srv := startNode(t, "srv", echoBody)
	cli := startNode(t, "cli", nil)
	linkNodes(t, cli, srv)
	msg := make([]byte, 128)
	dst := make([]byte, 0, 128)
	call := func() {
		var err error
		if dst, err = cli.DispatchAppend(context.Background(), "srv", msg, dst[:0]); err != nil {
			t.Fatal(err)
		}
	}
	for range 100 { // the pools warm up
		call()
	}
	if a := testing.AllocsPerRun(500, call); a >= 1 {
		t.Fatalf("%.2f allocations per request, want 0", a)
	}
}

// A hub forwarding a broadcast to its own loop's links wakes its loop once,
// not once per link (each wake allocates gnet's task and closure: a wake
// per leaf adds 2 per leaf). One broadcast costs 28 allocations here: 8
// for the send and the two wakes (the origin's loop, the hub's), and 2 for
// every node that holds it, the frame and its record kept for grafts (also
// on flooding links, which forward that frame).
func TestForwardOnOwnLoopWakesOnce(t *testing.T) {
	if raceOn {
		t.Skip("allocation counts need the plain runtime")
	}
	const leaves = 8
	for _, tc := range []struct {
		name string
		opts []Option
		max  float64
	}{
		{"flooding", []Option{WithBroadcastFlooding()}, 8 + 2*(leaves+2) + 4},
		{"trees", nil, 8 + 2*(leaves+2) + 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got atomic.Int64
			count := proto.HandlerFunc(func(proto.Context, []byte) ([]byte, error) {
				got.Add(1)
				return nil, nil
			})
			hub := startNode(t, "hub", count, append([]Option{WithEventLoops(1)}, tc.opts...)...)
			origin := startNode(t, "origin", count, tc.opts...)
			linkNodes(t, origin, hub)
			for i := range leaves {
				leaf := startNode(t, "leaf"+itoa(i), count, append([]Option{WithEventLoops(1)}, tc.opts...)...)
				linkNodes(t, leaf, hub)
			}
			msg := make([]byte, 64)
			sent := 0
			broadcast := func() {
				if _, err := origin.Broadcast(msg); err != nil {
					t.Fatal(err)
				}
				sent++
				deadline := time.Now().Add(5 * time.Second)
				for got.Load() < int64(sent*(leaves+1)) { // the hub and every leaf
					if time.Now().After(deadline) {
						t.Fatalf("%d deliveries of %d", got.Load(), sent*(leaves+1))
					}
					runtime.Gosched()
				}
			}
			for range 50 {
				broadcast()
			}
			if a := testing.AllocsPerRun(300, broadcast); a > tc.max {
				t.Fatalf("%.2f allocations per broadcast, want at most %v", a, tc.max)
			}
		})
	}
}

// Requests alternate between the caller's direct write (one caller at a
// time) and the loop's queue (concurrent callers, frames past link.DirectMax)
// without a frame lost, cut or misdelivered.
func TestDirectAndQueuedWritesInterleave(t *testing.T) {
	srv := startNode(t, "srv", echoBody)
	cli := startNode(t, "cli", nil)
	linkNodes(t, cli, srv)
	call := func(i, size int) {
		msg := make([]byte, size)
		for j := range msg {
			msg[j] = byte(i + j)
		}
		reply, err := cli.Dispatch("srv", msg)
		if err != nil {
			t.Error(err)
			return
		}
		if string(reply) != string(msg) {
			t.Errorf("call %d (%d bytes): reply differs", i, size)
		}
	}
	serial := func() {
		for i := range 2 * link.CrowdMemory {
			call(i, 1+i%300)
		}
	}
	serial()
	done := make(chan struct{})
	for g := range 16 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 50 {
				call(g*100+i, 1+(g*i)%500)
			}
		}()
	}
	for range 16 {
		<-done
	}
	serial()
	call(1, link.DirectMax+1)
	serial()
	if s := cli.Stats(); s.Timeouts != 0 || s.UnknownReplies != 0 {
		t.Fatalf("timeouts %d, unknown replies %d", s.Timeouts, s.UnknownReplies)
	}
}

// BenchmarkBroadcast is the broadcast relay under load: 32 nodes (one event
// loop each) on a random connected graph (graph.Random, mean degree 6), broadcasts from
// random origins back to back with at most 32 not yet delivered everywhere.
// One op is one broadcast reaching all 31 other nodes; cpu-µs/op is the
// process's user+system CPU per broadcast.
func BenchmarkBroadcast(b *testing.B) {
	const size, window = 32, 32
	var delivered atomic.Int64
	count := proto.HandlerFunc(func(proto.Context, []byte) ([]byte, error) {
		delivered.Add(1)
		return nil, nil
	})
	nodes := make([]*Node, size)
	for i := range nodes {
		nodes[i] = startNode(b, "b"+itoa(i), count, WithEventLoops(1))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, e := range graph.Random(size, 6, rng) {
		linkNodes(b, nodes[e[0]], nodes[e[1]])
	}
	msg := make([]byte, 128)
	want := func(sent int) int64 { return int64(sent * (size - 1)) }
	wait := func(sent, slack int) {
		deadline := time.Now().Add(10 * time.Second)
		for delivered.Load() < want(sent-slack) {
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d deliveries", delivered.Load(), want(sent-slack))
			}
			time.Sleep(20 * time.Microsecond) // not a spin: its CPU would count
		}
	}
	var ru0, ru1 syscall.Rusage
	b.ResetTimer()
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	delivered.Store(0)
	for i := range b.N {
		if _, err := nodes[rng.IntN(size)].Broadcast(msg); err != nil {
			b.Fatal(err)
		}
		if i >= window {
			wait(i+1, window)
		}
	}
	wait(b.N, 0)
	b.StopTimer()
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano() - ru0.Utime.Nano() + ru1.Stime.Nano() - ru0.Stime.Nano())
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
}
