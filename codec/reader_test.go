package codec_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/antnet-p2p/antnet/codec"
)

// testStream returns n frames of varied shape and their concatenation.
func testStream(n int) ([]codec.Frame, []byte) {
	frames := make([]codec.Frame, n)
	var stream []byte
	for i := range frames {
		size := (i * 37) % 200
		if i%5 == 0 {
			size = 0
		}
		frames[i] = codec.Frame{
			Kind:    codec.Kind(i%10 + 1),
			Flags:   uint8(i * 31),
			TTL:     uint8(i),
			ID:      math.MaxUint64 - uint64(i),
			Payload: pattern(size),
		}
		stream = codec.Append(stream, frames[i])
	}
	return frames, stream
}

// drain runs the engine's loop over r and checks each frame against want,
// starting at index next; it returns the new index.
func drain(t *testing.T, r *fakeConn, want []codec.Frame, next int) int {
	t.Helper()
	for {
		before := r.InboundBuffered()
		f, n, ok, err := codec.Next(r, 0)
		if err != nil {
			t.Fatalf("frame %d: Next error %v", next, err)
		}
		if !ok {
			if n != 0 || r.InboundBuffered() != before {
				t.Fatalf("frame %d: Next not ok but n=%d and buffered %d -> %d", next, n, before, r.InboundBuffered())
			}
			return next
		}
		if next >= len(want) {
			t.Fatalf("Next returned an extra frame %+v", f)
		}
		sameFrame(t, f, want[next])
		if n != want[next].Size() {
			t.Fatalf("frame %d: n = %d, want %d", next, n, want[next].Size())
		}
		if r.InboundBuffered() != before {
			t.Fatal("Next consumed input")
		}
		if _, err := r.Discard(n); err != nil {
			t.Fatal(err)
		}
		next++
	}
}

// feed delivers stream to a fresh reader in chunks cut at the given offsets
// and checks that exactly want comes out, in order.
func feed(t *testing.T, r *fakeConn, stream []byte, cuts []int, want []codec.Frame) {
	t.Helper()
	next, prev := 0, 0
	for _, c := range append(cuts, len(stream)) {
		r.write(stream[prev:c])
		prev = c
		next = drain(t, r, want, next)
	}
	if next != len(want) {
		t.Fatalf("got %d frames, want %d", next, len(want))
	}
	if r.InboundBuffered() != 0 {
		t.Fatalf("%d bytes left buffered", r.InboundBuffered())
	}
}

func readers() map[string]func() *fakeConn {
	return map[string]func() *fakeConn{
		"contiguous": func() *fakeConn { return &fakeConn{poison: true} },
		"copying":    func() *fakeConn { return &fakeConn{copyPeek: true, poison: true} },
	}
}

func TestNextEverySplit(t *testing.T) {
	want, stream := testStream(30)
	for name, newReader := range readers() {
		t.Run(name, func(t *testing.T) {
			for cut := 0; cut <= len(stream); cut++ {
				feed(t, newReader(), stream, []int{cut}, want)
			}
		})
	}
}

func TestNextEveryTwoSplits(t *testing.T) {
	want, stream := testStream(4)
	r := &fakeConn{poison: true}
	for i := 0; i <= len(stream); i++ {
		for j := i; j <= len(stream); j++ {
			r.reset(nil)
			feed(t, r, stream, []int{i, j}, want)
		}
	}
}

func TestNextByteByByte(t *testing.T) {
	want, stream := testStream(30)
	cuts := make([]int, len(stream))
	for i := range cuts {
		cuts[i] = i
	}
	for name, newReader := range readers() {
		t.Run(name, func(t *testing.T) {
			feed(t, newReader(), stream, cuts, want)
		})
	}
}

func TestNextRandomChunks(t *testing.T) {
	want, stream := testStream(200)
	rng := rand.New(rand.NewPCG(1, 2))
	for name, newReader := range readers() {
		t.Run(name, func(t *testing.T) {
			for range 200 {
				var cuts []int
				for c := rng.IntN(40); c < len(stream); c += 1 + rng.IntN(300) {
					cuts = append(cuts, c)
				}
				feed(t, newReader(), stream, cuts, want)
			}
		})
	}
}

func TestNextErrors(t *testing.T) {
	const max = 1024
	valid := codec.Append(nil, codec.Frame{Kind: codec.KindRequest, Payload: []byte("abc")})
	tests := []struct {
		name    string
		in      []byte
		max     int
		wantErr error
	}{
		{"oversized, 4 bytes buffered", frameBytes(math.MaxUint32, 1, nil)[:4], max, codec.ErrFrameTooLarge},
		{"oversized, 10 bytes buffered", frameBytes(max, 1, nil)[:10], max, codec.ErrFrameTooLarge},
		{"oversized, header buffered", frameBytes(max, 1, nil), max, codec.ErrFrameTooLarge},
		{"oversized default max", frameBytes(codec.DefaultMaxFrameSize, 1, nil)[:4], 0, codec.ErrFrameTooLarge},
		{"short length, 4 bytes buffered", frameBytes(0, 1, nil)[:4], max, codec.ErrShortFrame},
		{"short length, header buffered", frameBytes(11, 1, nil), max, codec.ErrShortFrame},
		{"bad version", frameBytes(12, 2, nil), max, codec.ErrVersion},
		{"bad first frame before good", append(frameBytes(12, 0, nil), valid...), max, codec.ErrVersion},
		{"3 bytes", frameBytes(math.MaxUint32, 1, nil)[:3], max, nil},
		{"bad version, partial", frameBytes(13, 2, nil), max, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &fakeConn{}
			r.write(tt.in)
			f, n, ok, err := codec.Next(r, tt.max)
			if ok || n != 0 || f.Payload != nil || !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("Next = %+v, %d, %v, %v; want not ok, %v", f, n, ok, err, tt.wantErr)
			}
			if r.InboundBuffered() != len(tt.in) {
				t.Fatal("Next consumed input")
			}
		})
	}
}

func TestNextZeroAllocs(t *testing.T) {
	_, stream := testStream(10)
	r := &fakeConn{}
	tests := []struct {
		name string
		in   []byte
	}{
		{"whole frames", stream},
		{"partial header", stream[:10]},
		{"partial payload", stream[:codec.HeaderSize+1]},
		{"empty", nil},
	}
	for _, tt := range tests {
		allocs := testing.AllocsPerRun(100, func() {
			r.reset(tt.in)
			for {
				_, n, ok, err := codec.Next(r, 0)
				if !ok || err != nil {
					break
				}
				r.Discard(n)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocs/op, want 0", tt.name, allocs)
		}
	}
}

// An oversized prefix must not allocate anything for the frame it announces:
// Next returns a *SizeError (one small allocation) whatever the announced size.
func TestNextOversizedNoFrameAlloc(t *testing.T) {
	r := &fakeConn{}
	measure := func(length uint32) (allocs float64, bytes uint64) {
		in := frameBytes(length, 1, nil)[:4]
		r.reset(in)
		_, _, _, err := codec.Next(r, 1024)
		var se *codec.SizeError
		if !errors.Is(err, codec.ErrFrameTooLarge) || !errors.As(err, &se) || se.Size != uint64(length)+4 || se.Max != 1024 {
			t.Fatalf("err = %v", err)
		}
		run := func() {
			r.reset(in)
			if _, _, _, err := codec.Next(r, 1024); err == nil {
				t.Fatal("no error")
			}
		}
		allocs = testing.AllocsPerRun(100, run)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		const runs = 100
		for range runs {
			run()
		}
		runtime.ReadMemStats(&after)
		return allocs, (after.TotalAlloc - before.TotalAlloc) / runs
	}
	smallA, smallB := measure(2000)
	hugeA, hugeB := measure(math.MaxUint32)
	t.Logf("oversized prefix: %v allocs, ~%d B per call (2 KB frame); %v allocs, ~%d B (4 GiB frame)", smallA, smallB, hugeA, hugeB)
	if hugeA != 1 || smallA != 1 || hugeB > 64 || smallB > 64 {
		t.Fatalf("oversized prefix cost %v allocs / %d B (4 GiB) and %v / %d B (2 KB); want 1 alloc, <= 64 B each", hugeA, hugeB, smallA, smallB)
	}
}

func TestSizeErrorText(t *testing.T) {
	_, err := codec.FrameLen([]byte{0xff, 0xff, 0xff, 0xff}, 1024)
	want := "codec: frame exceeds max frame size: 4294967299 > 1024 bytes"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
}
