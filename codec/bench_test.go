package codec_test

import (
	"fmt"
	"testing"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/valyala/bytebufferpool"
)

var benchSizes = []int{128, 4 << 10}

func benchFrame(size int) codec.Frame {
	return codec.Frame{Kind: codec.KindRequest, TTL: 8, ID: 123456789, Payload: pattern(size)}
}

func BenchmarkAppend(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			f := benchFrame(size)
			buf := make([]byte, 0, f.Size())
			b.SetBytes(int64(f.Size()))
			b.ReportAllocs()
			for b.Loop() {
				buf = codec.Append(buf[:0], f)
			}
		})
	}
}

func BenchmarkEncodePooled(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			f := benchFrame(size)
			// Let bytebufferpool recalibrate its max pooled size to
			// this frame size (it drops larger buffers until then).
			for range 100_000 {
				bytebufferpool.Put(codec.Encode(f))
			}
			b.SetBytes(int64(f.Size()))
			b.ReportAllocs()
			for b.Loop() {
				bytebufferpool.Put(codec.Encode(f))
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			enc := codec.Append(nil, benchFrame(size))
			b.SetBytes(int64(len(enc)))
			b.ReportAllocs()
			for b.Loop() {
				f, n, err := codec.Decode(enc, 0)
				if err != nil || n != len(enc) || len(f.Payload) != size {
					b.Fatal("bad decode")
				}
			}
		})
	}
}

// BenchmarkNext drains a buffer of 16 frames through the fake connection per
// iteration, the way OnTraffic would.
func BenchmarkNext(b *testing.B) {
	const perIter = 16
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			f := benchFrame(size)
			var stream []byte
			for range perIter {
				stream = codec.Append(stream, f)
			}
			r := &fakeConn{}
			b.SetBytes(int64(len(stream)))
			b.ReportAllocs()
			for b.Loop() {
				r.reset(stream)
				got := 0
				for {
					f, n, ok, err := codec.Next(r, 0)
					if err != nil {
						b.Fatal(err)
					}
					if !ok {
						break
					}
					got += len(f.Payload)
					r.Discard(n)
				}
				if got != perIter*size {
					b.Fatalf("decoded %d payload bytes, want %d", got, perIter*size)
				}
			}
		})
	}
}
