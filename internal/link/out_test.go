package link

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/internal/pending"
)

var (
	errClosed = errors.New("closed")
	errBusy   = errors.New("busy")
	errSlow   = errors.New("slow")
)

// socketConn returns a fakeConn on one end of a non-blocking socketpair
// and the other end's fd, to read what the link wrote; both close with t.
func socketConn(t *testing.T) (c *fakeConn, peer int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	return &fakeConn{fd: fds[0]}, fds[1]
}

func newEnv() *Env {
	return &Env{MaxFrame: 1 << 20, ErrClosed: errClosed, ErrBusy: errBusy, ErrSlowPeer: errSlow}
}

// fakeConn is the part of a gnet.Conn an Out calls: Wake, counted, and the
// socket's Fd (a socketpair's end, or -1).
type fakeConn struct {
	gnet.Conn
	fd      int
	wakes   atomic.Int32
	wakeErr error
}

func (c *fakeConn) Wake(gnet.AsyncCallback) error { c.wakes.Add(1); return c.wakeErr }
func (c *fakeConn) Fd() int                       { return c.fd }

type name string

func (n name) String() string { return string(n) }

// frames decodes the queued bytes, failing the test on a partial frame.
func frames(t *testing.T, b []byte) []codec.Frame {
	t.Helper()
	var out []codec.Frame
	for len(b) > 0 {
		f, n, err := codec.Decode(b, 1<<20)
		if err != nil || n == 0 {
			t.Fatalf("queue does not decode: %v (%d bytes left)", err, len(b))
		}
		out = append(out, f)
		b = b[n:]
	}
	return out
}

// Frames queued before the loop takes them wake it once, keep their
// order, and count in the link's and the node's figures.
func TestSendQueuesAndWakesOnce(t *testing.T) {
	env := newEnv()
	var o Out
	c := &fakeConn{fd: -1}
	o.SetConn(c)
	o.State.Store(Ready)
	for i := range 3 {
		if _, err := o.Send(env, name("p"), codec.KindNotice, 0, 0, 0, []byte{byte(i)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Write(env, name("p"), codec.Append(nil, codec.Frame{Kind: codec.KindPing, ID: 9})); err != nil {
		t.Fatal(err)
	}
	if got := c.wakes.Load(); got != 1 {
		t.Fatalf("%d wakes for 4 frames queued back to back, want 1", got)
	}
	if o.Queued() != 4*codec.HeaderSize+3 || o.FramesOut() != 4 || env.FramesOut.Load() != 4 {
		t.Fatalf("queued %d bytes, %d frames (node %d); want %d, 4, 4", o.Queued(), o.FramesOut(), env.FramesOut.Load(), 4*codec.HeaderSize+3)
	}
	out := o.TakeOut()
	fs := frames(t, out.B)
	if len(fs) != 4 || fs[0].Payload[0] != 0 || fs[2].Payload[0] != 2 || fs[3].Kind != codec.KindPing {
		t.Fatalf("queue holds %v", fs)
	}
	if o.Queued() != 0 || o.Held() != int64(len(out.B)) || !o.OutEmpty() {
		t.Fatalf("after TakeOut: queued %d, held %d, empty %v", o.Queued(), o.Held(), o.OutEmpty())
	}
	env.Pool.Put(out)
	if _, err := o.Send(env, name("p"), codec.KindNotice, 0, 0, 0, nil, nil); err != nil || c.wakes.Load() != 2 {
		t.Fatalf("a frame after the loop took the queue: err %v, wakes %d; want a second wake", err, c.wakes.Load())
	}
}

// The high-water mark refuses a frame that would take what the link holds
// past it, counts it, and names the peer; the in-flight cap refuses a
// request past it; a failed link refuses everything with its error.
func TestRefusals(t *testing.T) {
	env := newEnv()
	env.HighWater = 2*codec.HeaderSize + 100
	env.MaxInFlight = 1
	var o Out
	o.SetConn(&fakeConn{fd: -1})
	o.State.Store(Ready)
	if _, err := o.Send(env, name("p"), codec.KindNotice, 0, 0, 0, make([]byte, 100), nil); err != nil {
		t.Fatal(err)
	}
	_, err := o.Send(env, name("p"), codec.KindNotice, 0, 0, 0, make([]byte, 1), nil)
	if !errors.Is(err, errSlow) || env.Dropped.Load() != 1 {
		t.Fatalf("past the mark: %v, dropped %d; want the slow-peer error, 1", err, env.Dropped.Load())
	}
	o.SetUnsent(0)
	env.Pool.Put(o.TakeOut())
	o.SetUnsent(0) // the loop wrote it all
	f := pending.Get()
	id, err := o.Send(env, name("p"), codec.KindRequest, 0, 0, 0, nil, f)
	if err != nil || id == 0 {
		t.Fatalf("request: id %d, %v", id, err)
	}
	if _, err := o.Send(env, name("p"), codec.KindRequest, 0, 0, 0, nil, pending.Get()); !errors.Is(err, errBusy) {
		t.Fatalf("a second request past the cap of 1: %v", err)
	}
	if o.InFlight() != 1 || env.InFlight.Load() != 1 {
		t.Fatalf("in flight %d (node %d), want 1", o.InFlight(), env.InFlight.Load())
	}
	lost := errors.New("lost")
	o.Fail(env, lost)
	o.Fail(env, errors.New("second")) // the first error stays
	<-f.Done
	if f.Err != lost || o.InFlight() != 0 || env.InFlight.Load() != 0 || o.Err() != lost {
		t.Fatalf("after Fail: future %v, in flight %d (node %d), Err %v", f.Err, o.InFlight(), env.InFlight.Load(), o.Err())
	}
	if _, err := o.Send(env, name("p"), codec.KindNotice, 0, 0, 0, nil, nil); err != lost {
		t.Fatalf("send on a failed link: %v, want its error", err)
	}
	if o.Complete(env, id, nil, nil) {
		t.Fatal("an answer after Fail found its request")
	}
}

// A request on an idle ready link goes to the socket from the sender's
// goroutine, with no wake; once the loop serves the link, or a second
// request is in flight, requests queue for the loop's write instead.
func TestIdleRequestWritesDirectly(t *testing.T) {
	env := newEnv()
	var o Out
	c, peer := socketConn(t)
	o.SetConn(c)
	o.State.Store(Ready)
	f := pending.Get()
	id, err := o.Send(env, name("p"), codec.KindRequest, 0, 0, 0, []byte("hi"), f)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := unix.Read(peer, buf)
	if err != nil || c.wakes.Load() != 0 || o.Queued() != 0 {
		t.Fatalf("read %d, %v; wakes %d, queued %d: want the frame on the socket, no wake", n, err, c.wakes.Load(), o.Queued())
	}
	if fs := frames(t, buf[:n]); len(fs) != 1 || fs[0].ID != id || string(fs[0].Payload) != "hi" {
		t.Fatalf("socket got %v", fs)
	}
	if o.BytesOut() != uint64(n) || env.BytesOut.Load() != uint64(n) {
		t.Fatalf("bytes out %d (node %d), want %d", o.BytesOut(), env.BytesOut.Load(), n)
	}
	// A second request while the first is in flight queues for the loop.
	if _, err := o.Send(env, name("p"), codec.KindRequest, 0, 0, 0, []byte("x"), pending.Get()); err != nil {
		t.Fatal(err)
	}
	if c.wakes.Load() != 1 || o.OutEmpty() {
		t.Fatalf("a crowded request: wakes %d, queue empty %v; want it queued and one wake", c.wakes.Load(), o.OutEmpty())
	}
	if !o.Complete(env, id, []byte("ok"), nil) || !o.TakeAnswered() || o.TakeAnswered() {
		t.Fatal("Complete did not find the request or mark the batch answered once")
	}
	<-f.Done
	if string(f.Reply) != "ok" {
		t.Fatalf("reply %q", f.Reply)
	}
}

// A failed wake (the loop is gone) fails the send with ErrClosed and
// leaves no request behind.
func TestSendWakeFailure(t *testing.T) {
	env := newEnv()
	var o Out
	o.SetConn(&fakeConn{fd: -1, wakeErr: errors.New("stopped")})
	o.SetShort(true) // never written directly
	o.State.Store(Ready)
	f := pending.Get()
	if _, err := o.Send(env, name("p"), codec.KindRequest, 0, 0, 0, nil, f); err != errClosed {
		t.Fatalf("send with a dead loop: %v", err)
	}
	if o.InFlight() != 0 || env.InFlight.Load() != 0 || len(f.Done) != 0 {
		t.Fatalf("in flight %d (node %d), future signalled %v", o.InFlight(), env.InFlight.Load(), len(f.Done) != 0)
	}
}

// An accepted short link's answer marks it to close once flushed; a
// dialed one's does not.
func TestShortAnswerMarksClose(t *testing.T) {
	env := newEnv()
	for _, outbound := range []bool{false, true} {
		var o Out
		o.Init(outbound, false)
		o.SetShort(true)
		o.State.Store(Ready)
		if _, err := o.Send(env, name("p"), codec.KindResponse, 0, 0, 1, nil, nil); err != nil {
			t.Fatal(err)
		}
		if got := o.State.Has(FlagCloseAfterReply); got == outbound {
			t.Errorf("outbound %v: close-after-reply %v", outbound, got)
		}
	}
}
