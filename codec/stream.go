package codec

import "io"

// StreamReader reads whole frames from a blocking stream, such as a
// net.Conn a goroutine owns: one Read per frame when frames arrive whole,
// and the bytes read past a frame kept for the next. The engine's loops do
// not need it (they decode gnet's buffer with Next); a caller-side short
// request and the bench's baselines do.
type StreamReader struct {
	R   io.Reader
	Buf []byte // the read buffer; grown for a frame larger than it (nil: 4 KiB on the first Next)

	r, w int // Buf[r:w] is read and not yet returned
	used int
}

// DecodeError is a frame StreamReader read but cannot decode: the peer
// sent something other than a frame (ErrShortFrame, ErrFrameTooLarge,
// ErrVersion, which it wraps), as opposed to an error of the stream.
type DecodeError struct{ Err error }

// Error returns the codec error's text.
func (e *DecodeError) Error() string { return e.Err.Error() }

// Unwrap returns the codec error.
func (e *DecodeError) Unwrap() error { return e.Err }

// Next returns the next frame, at most maxFrame bytes (<= 0:
// DefaultMaxFrameSize); its payload is valid until the next call. It
// returns a *DecodeError for bytes that are not a frame and R's error, as
// it is, when R fails before a whole frame is in.
func (s *StreamReader) Next(maxFrame int) (Frame, error) {
	if s.Buf == nil {
		s.Buf = make([]byte, 4096)
	}
	for {
		if s.r == s.w {
			s.r, s.w = 0, 0
		}
		f, size, err := Decode(s.Buf[s.r:s.w], maxFrame)
		if err != nil {
			return Frame{}, &DecodeError{err}
		}
		if size > 0 {
			s.r += size
			s.used += size
			return f, nil
		}
		need, _ := FrameLen(s.Buf[s.r:s.w], maxFrame)
		if need = max(need, HeaderSize); s.r+need > len(s.Buf) {
			// Make room: move the partial frame down, or into a larger buffer.
			b := s.Buf
			if need > len(b) {
				b = make([]byte, need)
			}
			s.w = copy(b, s.Buf[s.r:s.w])
			s.Buf, s.r = b, 0
		}
		k, err := s.R.Read(s.Buf[s.w:])
		s.w += k
		if err != nil && k == 0 {
			return Frame{}, err
		}
	}
}

// Reset makes s read from r, dropping any bytes still buffered and
// keeping the buffer.
func (s *StreamReader) Reset(r io.Reader) {
	s.R, s.r, s.w, s.used = r, 0, 0, 0
}

// Buffered returns how many bytes were read past the last frame returned.
func (s *StreamReader) Buffered() int { return s.w - s.r }

// Used returns the bytes of every frame returned so far.
func (s *StreamReader) Used() int { return s.used }
