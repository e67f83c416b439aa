package main

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/codec"
)

// Micro-benchmarks: go test -bench . -benchmem ./bench
//
// BenchmarkReqRep and BenchmarkCall are the scenarios' paths under the
// testing package's b.N, so allocs/op comes from -benchmem. They include
// the in-process client.

func BenchmarkHistRecord(b *testing.B) {
	var h hist
	for i := 0; b.Loop(); i++ {
		h.record(int64(i&0xffff) * 997)
	}
}

func TestHistQuantile(t *testing.T) {
	var h hist
	for i := 1; i <= 1000; i++ {
		h.record(int64(i) * int64(time.Microsecond))
	}
	var tot histTotal
	tot.add(&h)
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.99, 990 * time.Microsecond}, {1, 1000 * time.Microsecond}} {
		got := tot.quantile(c.q)
		if d := float64(got-c.want) / float64(c.want); d < -0.02 || d > 0.02 {
			t.Errorf("quantile(%v) = %v, want %v ±2%%", c.q, got, c.want)
		}
	}
}

func TestFrameReader(t *testing.T) {
	var stream []byte
	sizes := []int{0, 1, 100, 5000, 40000, 3}
	for i, n := range sizes {
		p := bytes.Repeat([]byte{byte(i)}, n)
		stream = codec.AppendHeader(stream, codec.KindRequest, 0, 0, uint64(i+1), n)
		stream = append(stream, p...)
	}
	fr := newFrameReader(iotestHalf(bytes.NewReader(stream)), 4096)
	for i, n := range sizes {
		f, _, err := fr.next(nil)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if f.ID != uint64(i+1) || len(f.Payload) != n || (n > 0 && f.Payload[n-1] != byte(i)) {
			t.Fatalf("frame %d: id %d, %d bytes", i, f.ID, len(f.Payload))
		}
	}
	if _, _, err := fr.next(nil); err != io.EOF {
		t.Fatalf("after the last frame: %v, want EOF", err)
	}
}

// iotestHalf returns a reader that hands out at most 1000 bytes a read.
func iotestHalf(r io.Reader) io.Reader { return &smallReader{r} }

type smallReader struct{ r io.Reader }

func (s *smallReader) Read(p []byte) (int, error) {
	if len(p) > 1000 {
		p = p[:1000]
	}
	return s.r.Read(p)
}

func BenchmarkFrameReader(b *testing.B) {
	payload := make([]byte, 128)
	var one []byte
	one = codec.AppendHeader(one, codec.KindResponse, 0, 0, 7, len(payload))
	one = append(one, payload...)
	stream := bytes.Repeat(one, 256)
	r := bytes.NewReader(stream)
	fr := newFrameReader(r, 32<<10)
	b.SetBytes(int64(len(one)))
	for b.Loop() {
		if _, _, err := fr.next(nil); err != nil {
			r.Reset(stream)
			fr.br.Reset(r)
			fr.skip = 0
		}
	}
}

// BenchmarkReqRep: one connection, 16 requests in flight, 128-byte
// payloads, against each server.
func BenchmarkReqRep(b *testing.B) {
	for _, impl := range serverImpls {
		b.Run(impl, func(b *testing.B) {
			s, err := startServer(impl, serverOpts{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			sp := loadSpec{peers: 1, inflight: 16, payload: 128}
			lc, err := dialLoad(s.Addr(), 0, &sp)
			if err != nil {
				b.Fatal(err)
			}
			defer lc.c.Close()
			payload := make([]byte, sp.payload)
			_, _ = rand.Read(payload)
			b.ReportAllocs()
			b.ResetTimer()
			if err := lc.runN(b.N, payload); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// runN makes exactly n requests with the conn's window in flight.
func (lc *loadConn) runN(n int, payload []byte) error {
	k := min(len(lc.seq), n)
	for slot := 0; slot < k; slot++ {
		lc.send(slot, 0, payload)
	}
	sent := k
	for done := 0; done < n; done++ {
		f, _, err := lc.fr.next(lc.bw)
		if err != nil {
			return err
		}
		if f.Kind != codec.KindResponse || len(f.Payload) != len(payload) {
			return fmt.Errorf("bad response %s %d bytes", f.Kind, len(f.Payload))
		}
		if sent < n {
			lc.send(int(f.ID&0xffff), 0, payload)
			sent++
		}
	}
	return nil
}

// BenchmarkCall: one blocking call at a time through each client API
// (antnet: DispatchAppend node to node; goroutine: the multiplexing client,
// its writer goroutine coalescing queued frames and its reader goroutine).
// Client and server allocations both count.
func BenchmarkCall(b *testing.B) {
	msg := make([]byte, 128)
	dst := make([]byte, 0, 128)
	b.Run(implGoroutine, func(b *testing.B) {
		s, err := startServer(implGoroutine, serverOpts{})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		m, err := dialMux(s.Addr(), 128)
		if err != nil {
			b.Fatal(err)
		}
		defer m.Close()
		benchCalls(b, m, msg, dst)
	})
	b.Run(implAntnet, func(b *testing.B) {
		s, err := startServer(implAntnet, serverOpts{})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		n, err := startClientNode("server", s.Addr())
		if err != nil {
			b.Fatal(err)
		}
		defer n.Close()
		benchCalls(b, &nodeCaller{n: n, peer: "server@" + s.Addr()}, msg, dst)
	})
}

func benchCalls(b *testing.B, c caller, msg, dst []byte) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.call(msg, dst[:0]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRuntimeStack reproduces what engine.goid costs (runtime.Stack of
// the caller into a 64-byte buffer, once per Dispatch to detect a call from an
// event loop): it allocates, and runtime.Stack takes the runtime's global
// print lock, so concurrent callers serialise on it.
func BenchmarkRuntimeStack(b *testing.B) {
	stack := func() int {
		var buf [64]byte
		return runtime.Stack(buf[:], false)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			stack()
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				stack()
			}
		})
	})
}

func TestBroadcastSmall(t *testing.T) {
	cfg := &config{quick: true, duration: 150 * time.Millisecond, warmup: 50 * time.Millisecond}
	for _, secureLinks := range []bool{false, true} {
		var tree, flood Result
		for _, c := range []struct {
			flood bool
			r     *Result
		}{{false, &tree}, {true, &flood}} {
			if err := broadcastRun(secureLinks, c.flood, 8, 3, 64, cfg, c.r); err != nil {
				t.Fatalf("secure=%v flood=%v: %v", secureLinks, c.flood, err)
			}
			r := c.r
			if r.Duplicates == nil || *r.Duplicates != 0 || r.ReachedAll == nil || !*r.ReachedAll || r.OpsPerSec <= 0 {
				t.Fatalf("secure=%v flood=%v: %+v", secureLinks, c.flood, r)
			}
		}
		// Flooding: every node forwards each broadcast once on first sight
		// on every link but the one it came on; relays again for a
		// better-ttl copy come on top.
		if want := float64(flood.SumDegrees - (flood.Nodes - 1)); flood.FramesPerMsg < want-1e-9 {
			t.Errorf("secure=%v: flooding sent %.2f frames per broadcast, want at least 2E-(N-1) = %.0f",
				secureLinks, flood.FramesPerMsg, want)
		}
		// Trees: once formed, about one payload per delivery.
		if tree.CopiesPerDelivery > 1.3 || tree.CopiesPerDelivery >= flood.CopiesPerDelivery || tree.ControlBytesPerDelivery == 0 {
			t.Errorf("secure=%v: trees %.2f copies and %.0f control bytes per delivery, flooding %.2f copies",
				secureLinks, tree.CopiesPerDelivery, tree.ControlBytesPerDelivery, flood.CopiesPerDelivery)
		}
	}
}
