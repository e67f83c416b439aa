package engine

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/bytebufferpool"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/proto"
)

// Workers (WithWorkers): a fixed number of goroutines that run handlers
// off the event loops, fed by one bounded queue. A loop that finds the
// queue full answers the request busy at once; it never waits.

// job is one message for the workers, its payload and origin copied off
// the loop's buffer.
type job struct {
	ctx handlerContext
	msg []byte
}

// workerPool is the workers and their queue. start and stop are called
// once each, by Start and Shutdown; submit by the loops.
type workerPool struct {
	queue chan job
	wg    sync.WaitGroup
	drop  atomic.Bool // closing: jobs not yet started are dropped
}

// start runs count workers on a queue of size jobs; each runs run for
// every job it takes, marked as a worker goroutine in own.
func (p *workerPool) start(count, size int, own *goroutines, run func(*job)) {
	p.queue = make(chan job, size)
	for range count {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer own.worker()()
			for j := range p.queue {
				run(&j)
			}
		}()
	}
}

// submit queues j; false when the queue is full. Loop.
func (p *workerPool) submit(j job) bool {
	select {
	case p.queue <- j:
		return true
	default:
		return false
	}
}

// stop closes the queue and waits for the workers until ctx ends; then it
// gives idle workers workerExitGrace to exit and reports whether one is
// still busy in a handler (left behind, not waited for).
func (p *workerPool) stop(ctx context.Context) (busy bool) {
	if p.queue == nil {
		return false
	}
	close(p.queue)
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
		return false
	case <-ctx.Done():
		t := time.NewTimer(workerExitGrace)
		defer t.Stop()
		select {
		case <-done:
			return false
		case <-t.C:
			return true
		}
	}
}

// busyWorkerMsg is the line Shutdown logs for a worker it leaves behind.
const busyWorkerMsg = "closed with a worker still busy in the handler"

// workerExitGrace is how long stop waits, once its context has ended, for
// idle workers to exit before it reports one as busy.
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
		n.stats.serving.Add(1) // until the worker's (or the deferred) reply is sent
	}
	if n.workers.submit(j) {
		return
	}
	if isReq {
		n.stats.serving.Add(-1)
	}
	n.stats.busy.Add(1)
	if isReq {
		w.B = appendError(w.B, f.ID, proto.CodeBusy, "worker queue full")
		pc.markAnswered()
	}
}

// runJob runs the handler for j on a worker and sends the reply. Worker.
func (n *Node) runJob(j *job) {
	ctx := &j.ctx
	if n.workers.drop.Load() { // closing: the peer's caller has its error already
		if ctx.kind == codec.KindRequest {
			n.stats.serving.Add(-1)
		}
		return
	}
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
