package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/proto"
)

// frameReader reads whole frames out of a bufio.Reader without copying when
// the frame fits the buffer (the common case), and into a reused scratch
// buffer when it does not. It is shared by the load generator, the goroutine
// baseline server and the goroutine baseline's multiplexing client, so every
// Go-net side decodes the same way.
type frameReader struct {
	br   *bufio.Reader
	big  []byte // scratch for frames larger than br's buffer
	max  int
	skip int // bytes to Discard after the current frame
}

func newFrameReader(r io.Reader, size int) *frameReader {
	return &frameReader{br: bufio.NewReaderSize(r, size), max: codec.DefaultMaxFrameSize}
}

// next returns the next frame. Before it blocks for more bytes it flushes w
// (when w is non-nil and holds bytes): this is the "flush when the reader has
// nothing more buffered" rule that batches answers. fresh reports that a read
// from the socket was needed to complete the frame. The frame's payload is
// valid until the next call.
func (fr *frameReader) next(w *bufio.Writer) (f codec.Frame, fresh bool, err error) {
	if fr.skip > 0 {
		_, _ = fr.br.Discard(fr.skip)
		fr.skip = 0
	}
	for {
		if b := fr.br.Buffered(); b >= 4 {
			buf, _ := fr.br.Peek(b)
			size, err := codec.FrameLen(buf, fr.max)
			if err != nil {
				return f, fresh, err
			}
			if size <= b {
				f, n, err := codec.Decode(buf, fr.max)
				if err != nil {
					return f, fresh, err
				}
				fr.skip = n
				return f, fresh, nil
			}
			if size > fr.br.Size() {
				return fr.large(size, w)
			}
		}
		if w != nil && w.Buffered() > 0 {
			if err := w.Flush(); err != nil {
				return f, fresh, err
			}
		}
		if _, err := fr.br.Peek(fr.br.Buffered() + 1); err != nil {
			return f, fresh, err
		}
		fresh = true
	}
}

// large reads a frame that does not fit the bufio buffer into fr.big.
func (fr *frameReader) large(size int, w *bufio.Writer) (f codec.Frame, fresh bool, err error) {
	if w != nil && w.Buffered() > 0 {
		if err := w.Flush(); err != nil {
			return f, true, err
		}
	}
	if cap(fr.big) < size {
		fr.big = make([]byte, size)
	}
	fr.big = fr.big[:size]
	if _, err := io.ReadFull(fr.br, fr.big); err != nil {
		return f, true, err
	}
	f, _, err = codec.Decode(fr.big, fr.max)
	return f, true, err
}

// helloFrame returns a whole hello (or hello-ack) frame introducing id.
func helloFrame(kind codec.Kind, flags uint8, id proto.PeerID, nonce uint64) []byte {
	h := proto.Hello{ID: id, Nonce: nonce}
	payload := proto.AppendHello(nil, h)
	b := codec.AppendHeader(nil, kind, flags, 0, 0, len(payload))
	return append(b, payload...)
}

// checkAck validates a hello-ack frame.
func checkAck(f codec.Frame) error {
	if f.Kind != codec.KindHelloAck {
		return fmt.Errorf("handshake: got %s, want hello-ack", f.Kind)
	}
	if _, err := proto.ParseHello(f.Payload); err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	return nil
}

// bufSize picks a bufio size for frames of payload bytes with k in flight:
// big enough for a whole frame (so decoding never copies), and for a batch
// of k when that stays under 32 KiB.
func bufSize(payload, k int) int {
	frame := payload + codec.HeaderSize
	n := k * frame
	if n > 32<<10 {
		n = 32 << 10
	}
	if n < frame {
		n = frame
	}
	if n < 4096 {
		n = 4096
	}
	return n
}

// introduce says hello as name, at c's local address, and waits up to 5 s
// for the hello-ack.
func introduce(c net.Conn, fr *frameReader, bw *bufio.Writer, name string) error {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	id := proto.PeerID{Name: name, Addr: c.LocalAddr().String()}
	if _, err := bw.Write(helloFrame(codec.KindHello, 0, id, randNonce())); err != nil {
		return err
	}
	f, _, err := fr.next(bw)
	if err == nil {
		err = checkAck(f)
	}
	if err != nil {
		return err
	}
	return c.SetDeadline(time.Time{})
}
