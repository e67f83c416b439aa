package codec_test

import (
	"io"

	"github.com/antnet-p2p/antnet/codec"
)

// fakeConn mimics the inbound side of gnet.Conn: Peek(n) fails with
// io.ErrShortBuffer when fewer than n bytes are buffered and returns
// everything for n <= 0; Discard(n) consumes n bytes, or everything when
// n <= 0 or n >= buffered.
//
// With copyPeek set, Peek returns a fresh copy (as gnet does when its ring
// buffer wraps) that Discard poisons. With poison set, Discard overwrites the
// consumed bytes. Both catch a caller that uses a frame after Discard.
type fakeConn struct {
	buf      []byte
	off      int
	copyPeek bool
	poison   bool
	cache    []byte
}

var _ codec.Reader = (*fakeConn)(nil)

const poisonByte = 0xA5

// reset makes b the buffered input without copying it.
func (c *fakeConn) reset(b []byte) {
	c.buf, c.off, c.cache = b, 0, nil
}

// write appends newly arrived bytes.
func (c *fakeConn) write(p []byte) {
	if c.off == len(c.buf) {
		c.buf, c.off = c.buf[:0], 0
	}
	c.buf = append(c.buf, p...)
}

func (c *fakeConn) InboundBuffered() int { return len(c.buf) - c.off }

func (c *fakeConn) Peek(n int) ([]byte, error) {
	buffered := c.InboundBuffered()
	if n > buffered {
		return nil, io.ErrShortBuffer
	}
	if n <= 0 {
		n = buffered
	}
	p := c.buf[c.off : c.off+n]
	if c.copyPeek {
		c.cache = append([]byte(nil), p...)
		return c.cache, nil
	}
	return p, nil
}

func (c *fakeConn) Discard(n int) (int, error) {
	for i := range c.cache {
		c.cache[i] = poisonByte
	}
	c.cache = nil
	buffered := c.InboundBuffered()
	if n <= 0 || n >= buffered {
		n = buffered
	}
	if c.poison {
		for i := c.off; i < c.off+n; i++ {
			c.buf[i] = poisonByte
		}
	}
	c.off += n
	return n, nil
}
