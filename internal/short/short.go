// Package short is short mode's socket work, without the node: one
// message per connection (docs/PROTOCOL.md, "Short mode").
//
// The caller's side (Call) runs whole in the calling goroutine: write
// hello and the request in one write, read hello-ack and the answer, wait
// for the acceptor's close, close. The acceptor closes first, so the
// TIME_WAIT stays with it and a busy dialer does not run out of ephemeral
// ports; a peer that does not close within CloseGrace of its answer is
// closed by the dialer.
//
// The acceptor's side (Whole, Answer) serves a socket whose hello and one
// message already lie whole in its receive buffer, from the accept
// goroutine: is what it holds a whole exchange, and the answer's one
// non-blocking write followed by the FIN. No goroutine, no allocation per
// exchange (the caller's buffers are pooled). What the frames mean (which
// hello is accepted, what the answer is) is the caller's.
package short

import (
	"context"
	"net"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/proto"
)

// CloseGrace bounds how long a dialer waits, after the answer, for the
// acceptor to close first. An antnet acceptor closes as soon as the
// answer is flushed.
const CloseGrace = 250 * time.Millisecond

// bufs are the read buffers of caller-side exchanges.
var bufs = sync.Pool{New: func() any { b := make([]byte, 4096); return &b }}

// maxPooledBuf is the largest read buffer put back in bufs.
const maxPooledBuf = 64 << 10

// longAgo is a deadline in the past: it wakes a blocked read or write.
var longAgo = time.Unix(1, 0)

// Steps of a Call, as its IOError reports them.
const (
	StepRequest = "request"   // writing hello and the request
	StepAck     = "hello-ack" // reading the first frame
	StepAnswer  = "answer"    // reading the answer
)

// IOError is a Call that failed on its socket: at Step, with Err (a
// *codec.DecodeError for bytes that are not a frame,
// os.ErrDeadlineExceeded at the deadline or once a Stop context ended,
// io.EOF for a peer that closed).
type IOError struct {
	Step string
	Err  error
}

// Error names the step and the socket error.
func (e *IOError) Error() string { return "short exchange: " + e.Step + ": " + e.Err.Error() }

// Unwrap returns the socket's error.
func (e *IOError) Unwrap() error { return e.Err }

// Exchange is what one caller-side short exchange does with its frames.
// Set its fields, then Call. The functions see the frames by value, so
// that an exchange on the caller's stack allocates nothing of its own.
type Exchange struct {
	// Request appends hello and the request to b, in one buffer, written
	// with one write.
	Request func(b []byte) []byte
	// MaxAck and MaxFrame bound the first frame and the answer.
	MaxAck, MaxFrame int
	// Ack takes the first frame (hello-ack, or a refusal); an error ends
	// the exchange with it.
	Ack func(f codec.Frame) error
	// Answer takes the answer frame. With done the exchange ended as the
	// protocol says (an answer, or an error answer) and Call waits for the
	// acceptor's close; err is Call's error.
	Answer func(f codec.Frame) (done bool, err error)
}

// Call runs the exchange on c, a connected socket, in the caller's
// goroutine, and closes c. Every read and write is bounded by deadline;
// closing (the owner's) or ctx (the caller's) ending ends the exchange at
// once. err is Ack's or Answer's,
// or an *IOError; read is the bytes of the frames read (hello-ack and the
// answer) once the answer is read, else 0. The payloads handed to Ack and
// Answer are valid during the call only. Blocks.
func (x *Exchange) Call(c net.Conn, deadline time.Time, closing, ctx context.Context) (read int, err error) {
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(deadline) // before the interrupts: one that runs at once must not be undone
	interrupt := func() { _ = c.SetDeadline(longAgo) }
	if closing.Done() != nil {
		defer context.AfterFunc(closing, interrupt)()
	}
	if ctx.Done() != nil {
		defer context.AfterFunc(ctx, interrupt)()
	}

	bp := bufs.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= maxPooledBuf {
			bufs.Put(bp)
		}
	}()
	req := x.Request((*bp)[:0])
	*bp = req[:cap(req)]
	if _, err := c.Write(req); err != nil {
		return 0, &IOError{StepRequest, err}
	}
	r := codec.StreamReader{R: c, Buf: (*bp)[:cap(*bp)]}
	defer func() { *bp = r.Buf }()
	f, err := r.Next(x.MaxAck)
	if err != nil {
		return 0, &IOError{StepAck, err}
	}
	if err := x.Ack(f); err != nil {
		return 0, err
	}
	if f, err = r.Next(x.MaxFrame); err != nil {
		return 0, &IOError{StepAnswer, err}
	}
	done, err := x.Answer(f)
	if done && r.Buffered() == 0 { // nothing after the answer: let the acceptor close first
		if grace := time.Now().Add(CloseGrace); grace.Before(deadline) {
			_ = c.SetReadDeadline(grace)
		}
		_, _ = c.Read(r.Buf)
	}
	return r.Used(), err
}

// Peeked is a short exchange found whole in an accepted socket's receive
// buffer: a short hello and one request or notice, nothing else.
type Peeked struct {
	Hello proto.Hello
	Msg   codec.Frame // its payload lies in the bytes Whole was given
}

// Whole reports whether in, what an accepted socket's receive buffer
// holds (acceptor.Peek), is exactly a short hello (at most maxHello
// bytes, parsed) and one request or notice (at most maxFrame): a whole
// exchange the accept goroutine may serve. Anything else (a persistent
// hello, bytes missing or more than one message, another kind) is false.
// Allocates nothing but the hello's parse.
func Whole(in []byte, maxHello, maxFrame int) (Peeked, bool) {
	hf, hn, err := codec.Decode(in, maxHello)
	if err != nil || hn == 0 || hf.Kind != codec.KindHello || hf.Flags&proto.FlagShort == 0 {
		return Peeked{}, false
	}
	mf, mn, err := codec.Decode(in[hn:], maxFrame)
	if err != nil || mn == 0 || hn+mn != len(in) || (mf.Kind != codec.KindRequest && mf.Kind != codec.KindNotice) {
		return Peeked{}, false
	}
	h, err := proto.ParseHello(hf.Payload)
	if err != nil {
		return Peeked{}, false
	}
	return Peeked{Hello: h, Msg: mf}, true
}

// Answer writes b on fd, a non-blocking socket, with one write and, when
// the socket took it all, sends the FIN at once: the dialer, which waits
// for it, is not kept waiting while the socket is unregistered from the
// poller. It returns the bytes written (-1 on an error): fewer than len(b)
// leave the rest to the caller.
func Answer(fd int, b []byte) int {
	wrote, _ := unix.Write(fd, b)
	if wrote == len(b) {
		_ = unix.Shutdown(fd, unix.SHUT_WR)
	}
	return wrote
}
