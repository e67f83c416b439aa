package engine

import (
	"context"
	"log/slog"
	"net"
	"runtime"
	"testing"

	"github.com/panjf2000/gnet/v2"
	"github.com/valyala/bytebufferpool"

	"github.com/antnet-p2p/antnet/internal/gnetslog"
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
	linkNodes(b, cli, srv)
	b.SetBytes(int64(size))
	dispatchParallel(b, cli, make([]byte, size))
}

// dispatchParallel times cli's requests of msg to "srv" from b's parallel
// callers (b.SetParallelism sets how many), each reusing its reply buffer.
func dispatchParallel(b *testing.B, cli *Node, msg []byte) {
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		dst := make([]byte, 0, len(msg))
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
	linkNodes(b, cli, srv)
	dispatchSerial(b, cli, make([]byte, 128))
}

// BenchmarkStallWatch is BenchmarkDispatchSerial with the stall watch on
// (the default: two clock reads per loop callback) and off
// (WithStallThreshold(0)), for the watch's cost as a ratio in one run.
func BenchmarkStallWatch(b *testing.B) {
	for _, c := range []struct {
		name string
		opts []Option
	}{{"watched", nil}, {"off", []Option{WithStallThreshold(0)}}} {
		b.Run(c.name, func(b *testing.B) {
			srv := startNode(b, "srv", echoBody, c.opts...)
			cli := startNode(b, "cli", nil, c.opts...)
			linkNodes(b, cli, srv)
			dispatchSerial(b, cli, make([]byte, 128))
		})
	}
}

// dispatchSerial times cli's requests of msg to "srv" from one caller, one
// at a time, reusing its reply buffer.
func dispatchSerial(b *testing.B, cli *Node, msg []byte) {
	dst := make([]byte, 0, len(msg))
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

// BenchmarkShortDispatch is short mode node to node: one connection per
// request (dial, hello and request, hello-ack and response, close), with
// one caller and with 16 callers at once. allocs/op counts both nodes.
func BenchmarkShortDispatch(b *testing.B) {
	for _, callers := range []int{1, 16} {
		b.Run("callers="+itoa(callers), func(b *testing.B) {
			srv := startNode(b, "srv", echoBody, WithMode(Short))
			cli := startNode(b, "cli", nil, WithMode(Short))
			linkNodes(b, cli, srv)
			msg := make([]byte, 128)
			if callers == 1 {
				dispatchSerial(b, cli, msg)
				return
			}
			b.SetParallelism(callers / runtime.GOMAXPROCS(0)) // goroutines = parallelism × GOMAXPROCS
			dispatchParallel(b, cli, msg)
		})
	}
}

// closeOnOpen is a gnet handler that closes every conn as it opens.
type closeOnOpen struct{ gnet.BuiltinEventEngine }

func (*closeOnOpen) OnOpen(gnet.Conn) ([]byte, gnet.Action) { return nil, gnet.Close }

// BenchmarkEnrollCost is the floor under a short-mode request on gnet: a
// socket dialed and closed against a listener that accepts and closes
// ("dial"), and the same with the socket enrolled on a gnet loop in
// between, which is what putting it on the node's reactor costs
// ("dial+enroll": gnet dups the descriptor, wakes the loop and waits for
// OnOpen). A short request pays the enroll twice, once at each end.
func BenchmarkEnrollCost(b *testing.B) {
	ln := rawListener(b)
	closeEveryConn(ln)
	cli, err := gnet.NewClient(&closeOnOpen{}, gnet.WithNumEventLoop(runtime.GOMAXPROCS(0)), gnet.WithLogger(gnetslog.Logger{L: slog.New(slog.DiscardHandler)}))
	if err != nil {
		b.Fatal(err)
	}
	if err := cli.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cli.Stop() }()
	d := net.Dialer{KeepAlive: -1}
	for _, enroll := range []bool{false, true} {
		name := "dial"
		if enroll {
			name = "dial+enroll"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				c, err := d.Dial("tcp", ln.Addr().String())
				if err != nil {
					b.Fatal(err)
				}
				if !enroll {
					_ = c.Close()
					continue
				}
				if _, err := cli.Enroll(c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
