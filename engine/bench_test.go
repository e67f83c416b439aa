package engine

import (
	"context"
	"math/rand/v2"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/bytebufferpool"

	"github.com/antnet-p2p/antnet/proto"
)

// echoBody answers with the request itself: the engine copies it into its
// write buffer before the handler returns.
var echoBody = proto.HandlerFunc(func(_ proto.Context, msg []byte) ([]byte, error) { return msg, nil })

// BenchmarkDispatch measures a persistent-mode request/response between two
// nodes in one process, through the public API, with parallel callers.
// allocs/op counts both nodes: the caller's side and the serving side.
func BenchmarkDispatch(b *testing.B) {
	for _, size := range []int{128, 4096} {
		b.Run(byteSize(size), func(b *testing.B) { benchDispatch(b, size) })
	}
	// Another user of bytebufferpool's default pool, calibrated on small
	// buffers, must not cost the node's 4 KiB outboxes anything (B/op stays
	// that of the plain 4KiB row): the node keeps its own pools.
	b.Run("4KiB-after-default-pool-churn", func(b *testing.B) {
		for range 200_000 {
			bb := bytebufferpool.Get()
			bb.B = append(bb.B, make([]byte, 200)...)
			bytebufferpool.Put(bb)
		}
		benchDispatch(b, 4096)
	})
}

func benchDispatch(b *testing.B, size int) {
	srv := startNode(b, "srv", echoBody)
	cli := startNode(b, "cli", nil)
	link(b, cli, srv)
	msg := make([]byte, size)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		dst := make([]byte, 0, size)
		for pb.Next() {
			var err error
			if dst, err = cli.DispatchAppend(context.Background(), "srv", msg, dst[:0]); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkDispatchSerial is one caller, one request at a time: the latency
// path, where nothing is amortised over a batch.
func BenchmarkDispatchSerial(b *testing.B) {
	srv := startNode(b, "srv", echoBody)
	cli := startNode(b, "cli", nil)
	link(b, cli, srv)
	msg := make([]byte, 128)
	dst := make([]byte, 0, 128)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		var err error
		if dst, err = cli.DispatchAppend(context.Background(), "srv", msg, dst[:0]); err != nil {
			b.Fatal(err)
		}
	}
}

func byteSize(n int) string {
	if n >= 1024 {
		return itoa(n/1024) + "KiB"
	}
	return itoa(n) + "B"
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// BenchmarkBroadcast is the broadcast relay under load: 32 nodes (one event
// loop each) on a ring with random chords (degree about 6), broadcasts from
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
	edges := map[[2]int]bool{}
	add := func(i, j int) {
		if i > j {
			i, j = j, i
		}
		if i != j && !edges[[2]int{i, j}] {
			edges[[2]int{i, j}] = true
			link(b, nodes[i], nodes[j])
		}
	}
	for i := range size {
		add(i, (i+1)%size)
	}
	for len(edges) < size*3 {
		add(rng.IntN(size), rng.IntN(size))
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
