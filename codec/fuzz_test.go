package codec_test

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/antnet-p2p/antnet/codec"
)

// fuzzMax is small so the fuzzer reaches the size limit easily.
const fuzzMax = 1 << 12

// decodeAll decodes frames from b with Decode until it errors or needs more
// bytes. It returns the frames, the encoded bytes each came from, and the
// final error.
func decodeAll(t *testing.T, b []byte) (frames []codec.Frame, raw [][]byte, err error) {
	for {
		f, n, err := codec.Decode(b, fuzzMax)
		if err != nil || n == 0 {
			if n != 0 {
				t.Fatalf("Decode returned n=%d with err %v", n, err)
			}
			return frames, raw, err
		}
		if n < codec.HeaderSize || n > len(b) || n > fuzzMax {
			t.Fatalf("Decode n = %d out of range (len %d)", n, len(b))
		}
		frames = append(frames, f)
		raw = append(raw, b[:n])
		b = b[n:]
	}
}

// nextAll does the same through Next on a fake connection fed by chunks of
// the given size (0: all at once). It stops at the first error.
func nextAll(t *testing.T, b []byte, chunk int) (frames []codec.Frame, err error) {
	r := &fakeConn{poison: true, copyPeek: chunk%2 == 1}
	if chunk <= 0 {
		chunk = len(b) + 1
	}
	for off := 0; ; {
		for {
			f, n, ok, err := codec.Next(r, fuzzMax)
			if err != nil {
				return frames, err
			}
			if !ok {
				break
			}
			f.Payload = bytes.Clone(f.Payload) // kept past Discard
			frames = append(frames, f)
			r.Discard(n)
		}
		if off >= len(b) {
			return frames, nil
		}
		end := min(off+chunk, len(b))
		r.write(b[off:end])
		off = end
	}
}

// errClass maps a decoder error to its sentinel; nil for nil or unknown.
func errClass(err error) error {
	for _, s := range []error{codec.ErrShortFrame, codec.ErrFrameTooLarge, codec.ErrVersion} {
		if errors.Is(err, s) {
			return s
		}
	}
	return nil
}

func FuzzDecode(f *testing.F) {
	one := codec.Append(nil, codec.Frame{Kind: codec.KindRequest, Flags: 1, TTL: 2, ID: 3, Payload: []byte("hello")})
	many := one
	for i := range 5 {
		many = codec.Append(many, codec.Frame{Kind: codec.Kind(i + 1), ID: math.MaxUint64, Payload: pattern(i * 50)})
	}
	seeds := [][]byte{
		nil,
		one,
		codec.Append(nil, codec.Frame{Kind: codec.KindPing}),
		codec.Append(nil, codec.Frame{Kind: codec.KindResponse, Payload: pattern(fuzzMax - codec.HeaderSize)}),
		one[:3],
		one[:4],
		one[:codec.HeaderSize],
		one[:len(one)-1],
		many,
		many[:len(many)-7],
		frameBytes(0, 1, nil),              // zero length
		frameBytes(11, 1, nil),             // one short of a header
		frameBytes(math.MaxUint32, 1, nil), // oversized
		frameBytes(fuzzMax-3, 1, nil)[:4],  // one past the limit
		frameBytes(12, 0, nil),             // bad version
		frameBytes(12+2, 2, []byte("xy")),  // bad version with payload
		append(bytes.Clone(one), frameBytes(12, 9, nil)...), // good then bad
	}
	for _, s := range seeds {
		f.Add(s, uint8(0))
		f.Add(s, uint8(1))
		f.Add(s, uint8(16))
	}
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		frames, raw, derr := decodeAll(t, in)
		if derr != nil && errClass(derr) == nil {
			t.Fatalf("Decode: unexpected error %v", derr)
		}
		for i, f := range frames {
			if enc := codec.Append(nil, f); !bytes.Equal(enc, raw[i]) {
				t.Fatalf("frame %d re-encodes to %x, decoded from %x", i, enc, raw[i])
			}
		}

		nframes, nerr := nextAll(t, in, int(chunk))
		if errClass(nerr) != errClass(derr) || (nerr == nil) != (derr == nil) {
			t.Fatalf("Next error %v, Decode error %v", nerr, derr)
		}
		if len(nframes) != len(frames) {
			t.Fatalf("Next found %d frames, Decode %d", len(nframes), len(frames))
		}
		for i := range frames {
			sameFrame(t, nframes[i], frames[i])
		}
	})
}
