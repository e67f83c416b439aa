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

// sameAsDecode fails t unless what Next read (frames, and the error that
// stopped it) is what Decode found in the same stream.
func sameAsDecode(t *testing.T, next []codec.Frame, nerr error, dec []codec.Frame, derr error) {
	t.Helper()
	if errClass(nerr) != errClass(derr) || (nerr == nil) != (derr == nil) {
		t.Fatalf("Next error %v, Decode error %v", nerr, derr)
	}
	if len(next) != len(dec) {
		t.Fatalf("Next found %d frames, Decode %d", len(next), len(dec))
	}
	for i := range dec {
		sameFrame(t, next[i], dec[i])
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
		sameAsDecode(t, nframes, nerr, frames, derr)
	})
}

// feedNext runs the streaming reader over in as a connection would see it:
// the bytes arrive in chunks whose sizes cuts gives (one byte of cuts per
// chunk, 0 for a wakeup with nothing new; the rest in one chunk), and
// after each chunk Next is called until it wants more. It returns the
// frames (payloads cloned), the error that stopped it, and how many bytes
// had arrived before the chunk after which Next returned that error.
func feedNext(r *fakeConn, in, cuts []byte, keep bool) (frames []codec.Frame, err error, before int) {
	arrived := 0
	for i := 0; ; i++ {
		for {
			f, n, ok, err := codec.Next(r, fuzzMax)
			if err != nil {
				return frames, err, before
			}
			if !ok {
				break
			}
			if keep {
				f.Payload = bytes.Clone(f.Payload)
				frames = append(frames, f)
			}
			r.Discard(n)
		}
		if arrived == len(in) {
			return frames, nil, before
		}
		size := len(in) - arrived
		if i < len(cuts) {
			size = min(size, int(cuts[i]))
		}
		r.write(in[arrived : arrived+size])
		before, arrived = arrived, arrived+size
	}
}

// Invariant of the streaming reader (Next), however the stream is split
// into reads: it yields exactly the frames Decode finds in the whole
// stream and stops with an error of the same sentinel; a length prefix
// that is too short or over the max frame size is reported as soon as its
// 4 bytes have arrived (a frame's worth is never waited for), a bad
// version once its frame is whole; a stream of good frames allocates
// nothing, and the error that ends a stream at most its own error value.
func FuzzNext(f *testing.F) {
	one := codec.Append(nil, codec.Frame{Kind: codec.KindRequest, ID: 3, Payload: []byte("hello")})
	f.Add(one, []byte{})
	f.Add(append(bytes.Clone(one), one...), []byte{1, 2, 3, 4, 5, 0, 16, 7})
	f.Add(append(bytes.Clone(one), frameBytes(math.MaxUint32, 1, nil)...), []byte{byte(len(one) + 2), 2})
	f.Add(append(bytes.Clone(one), frameBytes(3, 1, nil)...), []byte{byte(len(one)), 4})
	f.Add(append(bytes.Clone(one), frameBytes(12, 2, nil)...), []byte{1, 1, 1, 1, 1, 1, 1, 1, 1, 1})
	f.Fuzz(func(t *testing.T, in, cuts []byte) {
		want, raw, derr := decodeAll(t, in)
		got, nerr, before := feedNext(&fakeConn{poison: true, copyPeek: len(cuts)%2 == 1}, in, cuts, true)
		sameAsDecode(t, got, nerr, want, derr)
		if derr != nil {
			// Where the bad frame starts, and when Next could first see it.
			bad := 0
			for _, b := range raw {
				bad += len(b)
			}
			due := bad + 4
			if errors.Is(derr, codec.ErrVersion) {
				due, _ = codec.FrameLen(in[bad:], fuzzMax)
				due += bad
			}
			if before >= due {
				t.Fatalf("%v, knowable once %d bytes arrived, reported only after a later read (%d bytes had arrived before it)", derr, due, before)
			}
		}
		// The allocation bound, on a reader that neither copies nor grows;
		// the mean of 5 runs, rounded down, so that a stray allocation by
		// another goroutine of the fuzz worker does not count.
		r := &fakeConn{buf: make([]byte, 0, len(in))}
		a := testing.AllocsPerRun(5, func() {
			r.reset(r.buf[:0])
			_, _, _ = feedNext(r, in, cuts, false)
		})
		limit := 0.0
		switch errClass(derr) {
		case codec.ErrFrameTooLarge:
			limit = 1 // the *SizeError
		case codec.ErrVersion:
			limit = 3 // fmt.Errorf: its error, its text, its list of wrapped errors
			if raceEnabled {
				limit++ // and its printer, when the race detector dropped it from fmt's pool
			}
		}
		if a > limit {
			t.Fatalf("reading the stream allocated %v times, want at most %v (error %v)", a, limit, derr)
		}
	})
}
