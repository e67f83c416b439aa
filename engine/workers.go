package engine

import (
	"fmt"
	"time"

	"github.com/valyala/bytebufferpool"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/proto"
)

// Workers (WithWorkers) run handlers off the event loops, from one bounded
// queue (internal/workpool). A loop that finds the queue full answers the
// request busy at once; it never waits.

// job is one message for the workers, its payload and origin copied off
// the loop's buffer.
type job struct {
	ctx handlerContext
	msg []byte
}

// busyWorkerMsg is the line Shutdown logs for a worker it leaves behind.
const busyWorkerMsg = "closed with a worker still busy in the handler"

// workerExitGrace is how long Shutdown waits, once its context has ended,
// for idle workers to exit before it reports one as busy.
const workerExitGrace = 10 * time.Millisecond

// offload queues a message for the workers, or answers busy. Loop.
func (pc *peerConn) offload(f *codec.Frame, origin []byte, w *bytebufferpool.ByteBuffer) {
	n := pc.n
	isReq := f.Kind == codec.KindRequest
	j := job{ctx: handlerContext{pc: pc, kind: f.Kind, id: f.ID, queued: isReq}, msg: append([]byte(nil), f.Payload...)}
	if origin != nil {
		j.ctx.origin = append([]byte(nil), origin...)
	}
	if isReq {
		n.stats.Serving.Add(1) // until the worker's (or the deferred) reply is sent
	}
	if n.workers.Submit(j) {
		return
	}
	if isReq {
		n.stats.Serving.Add(-1)
	}
	n.stats.Busy.Add(1)
	if isReq {
		w.B = appendError(w.B, f.ID, proto.CodeBusy, "worker queue full")
		pc.MarkAnswered()
	}
}

// runJob runs the handler for j and sends the reply. Worker.
func (n *Node) runJob(j *job) {
	ctx := &j.ctx
	out, panicked, err := n.runHandler(ctx, j.msg)
	if ctx.kind != codec.KindRequest || ctx.deferred {
		return
	}
	r := reply{pc: ctx.pc, kind: ctx.kind, id: ctx.id}
	if panicked != nil {
		err = &proto.RemoteError{Code: proto.CodePanic, Message: fmt.Sprint(panicked)}
	}
	_ = r.Send(out, err)
}

// skip drops a job the node closed before it started: the peer's caller
// has its error already. Worker.
func (j *job) skip() {
	if j.ctx.kind == codec.KindRequest {
		j.ctx.pc.n.stats.Serving.Add(-1)
	}
}
