package link

import (
	"testing"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/internal/pending"
)

// loopConn is fakeConn plus what the loop calls: Write, recorded, and
// OutboundBuffered, set by the test.
type loopConn struct {
	fakeConn
	wrote    []byte
	buffered int
}

func (c *loopConn) Write(b []byte) (int, error) { c.wrote = append(c.wrote, b...); return len(b), nil }
func (c *loopConn) OutboundBuffered() int       { return c.buffered }

var _ gnet.Conn = (*loopConn)(nil)

// A lone request on a link its loop is serving (LoopStart) or whose last
// write gnet kept a backlog of (LoopEnd with bytes left) queues for the
// loop; once the loop is done and gnet holds nothing, it goes to the
// socket directly.
func TestLoopBusyAndBacklogQueueRequests(t *testing.T) {
	env := newEnv()
	var o Out
	c, peer := socketConn(t)
	o.SetConn(c)
	o.State.Store(Ready)
	request := func() uint64 {
		t.Helper()
		id, err := o.Send(env, name("p"), codec.KindRequest, 0, 0, 0, []byte("r"), pending.Get())
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	o.LoopStart()
	id := request()
	if o.OutEmpty() || c.wakes.Load() != 1 {
		t.Fatalf("loop busy: queue empty %v, wakes %d; want it queued, one wake", o.OutEmpty(), c.wakes.Load())
	}
	env.Pool.Put(o.TakeOut())
	o.LoopEnd(5) // gnet kept 5 bytes
	if !o.Cancel(env, id) {
		t.Fatal("cancel")
	}
	id = request()
	if o.OutEmpty() || c.wakes.Load() != 2 {
		t.Fatalf("backlog: queue empty %v, wakes %d; want it queued, a second wake", o.OutEmpty(), c.wakes.Load())
	}
	env.Pool.Put(o.TakeOut())
	o.LoopStart()
	o.LoopEnd(0)
	o.Cancel(env, id)
	request()
	buf := make([]byte, 64)
	if n, err := unix.Read(peer, buf); err != nil || n == 0 || !o.OutEmpty() || c.wakes.Load() != 2 {
		t.Fatalf("idle again: read %d, %v; queue empty %v, wakes %d; want a direct write", n, err, o.OutEmpty(), c.wakes.Load())
	}
}

// WriteOnLoop asks for the dirty list once per flush; FlushOnLoop writes
// the queue with one Write, counts it, and records gnet's backlog.
func TestWriteOnLoopThenFlush(t *testing.T) {
	env := newEnv()
	var o Out
	c := &loopConn{fakeConn: fakeConn{fd: -1}}
	o.SetConn(c)
	o.State.Store(Ready)
	frame := codec.Append(nil, codec.Frame{Kind: codec.KindPing, ID: 3})
	for i, want := range []bool{true, false} {
		list, err := o.WriteOnLoop(env, name("p"), frame)
		if err != nil || list != want {
			t.Fatalf("write %d: list %v, %v; want %v", i, list, err, want)
		}
	}
	c.buffered = 7
	if err := o.FlushOnLoop(env, nil); err != nil {
		t.Fatal(err)
	}
	if len(c.wrote) != 2*len(frame) || o.BytesOut() != uint64(2*len(frame)) || env.BytesOut.Load() != uint64(2*len(frame)) {
		t.Fatalf("wrote %d, counted %d (node %d); want %d", len(c.wrote), o.BytesOut(), env.BytesOut.Load(), 2*len(frame))
	}
	if o.Held() != 7 || c.wakes.Load() != 0 {
		t.Fatalf("held %d, wakes %d; want gnet's 7, none", o.Held(), c.wakes.Load())
	}
	if list, _ := o.WriteOnLoop(env, name("p"), frame); !list {
		t.Fatal("a write after the flush did not ask for the dirty list")
	}
}
