package codec

// Reader is the part of gnet.Conn the decoder needs. Peek must not consume;
// Discard consumes.
type Reader interface {
	Peek(n int) ([]byte, error)
	Discard(n int) (int, error)
	InboundBuffered() int
}

// Next returns the next whole frame buffered in r without consuming it, and
// the number of bytes to Discard once the frame has been used. ok is false when
// r does not yet hold a whole frame (nothing is consumed; wait for more bytes).
// The payload is valid until the next call on r: handle the frame, Discard(n),
// then call Next again. maxFrame <= 0 means DefaultMaxFrameSize.
func Next(r Reader, maxFrame int) (f Frame, n int, ok bool, err error) {
	buffered := r.InboundBuffered()
	if buffered < HeaderSize {
		if buffered >= lengthSize {
			// An oversized or short length is reported as soon as it is seen.
			if p, perr := r.Peek(lengthSize); perr == nil {
				if _, err = FrameLen(p, maxFrame); err != nil {
					return Frame{}, 0, false, err
				}
			}
		}
		return Frame{}, 0, false, nil
	}
	p, err := r.Peek(HeaderSize)
	if err != nil {
		return Frame{}, 0, false, nil
	}
	size, err := FrameLen(p, maxFrame)
	if err != nil {
		return Frame{}, 0, false, err
	}
	if buffered < size {
		return Frame{}, 0, false, nil
	}
	p, err = r.Peek(size)
	if err != nil {
		return Frame{}, 0, false, nil
	}
	f, n, err = Decode(p, maxFrame)
	if err != nil {
		return Frame{}, 0, false, err
	}
	return f, n, true, nil
}
