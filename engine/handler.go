package engine

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/valyala/bytebufferpool"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/internal/link"
	"github.com/antnet-p2p/antnet/proto"
)

// handlerContext is the proto.Context a handler gets, on the event loop (one
// lives in each peerConn, reused for every message on it) or on a worker.
type handlerContext struct {
	pc       *peerConn
	kind     codec.Kind
	id       uint64
	origin   []byte // gossip: "name@host:port" of the broadcast's origin
	deferred bool
	queued   bool // a worker's request: counted in serving since it was queued
}

func (m *handlerContext) Peer() proto.PeerID   { return *m.pc.peer }
func (m *handlerContext) Origin() proto.PeerID { return originOf(m.pc, m.origin) }
func (m *handlerContext) Kind() codec.Kind     { return m.kind }
func (m *handlerContext) Short() bool          { return m.pc.Short() }

func (m *handlerContext) Defer() proto.Reply {
	if !m.deferred && m.kind == codec.KindRequest && !m.queued {
		m.pc.n.stats.Serving.Add(1) // Shutdown waits for the answer
	}
	m.deferred = true
	return &reply{pc: m.pc, kind: m.kind, id: m.id}
}

// reply answers a request later, from any goroutine.
type reply struct {
	pc   *peerConn
	kind codec.Kind
	id   uint64
	sent atomic.Bool
}

func (r *reply) Send(msg []byte, err error) error {
	if !r.sent.CompareAndSwap(false, true) {
		return proto.ErrReplySent
	}
	if r.kind != codec.KindRequest {
		return nil
	}
	defer r.pc.n.stats.Serving.Add(-1)
	if err == nil {
		if err = r.pc.n.linkEnv.CheckSize(len(msg)); err != nil {
			// The caller learns why instead of waiting out its timeout.
			_, _ = r.pc.send(codec.KindError, 0, 0, r.id, proto.AppendError(nil, proto.CodeTooLarge, err.Error()), nil)
			return err
		}
		_, err = r.pc.send(codec.KindResponse, 0, 0, r.id, msg, nil)
		return err
	}
	code, text := errorCode(err)
	_, err = r.pc.send(codec.KindError, 0, 0, r.id, proto.AppendError(nil, code, text), nil)
	return err
}

// handle serves a request or notice. The answer, if any, goes to w. Loop.
func (pc *peerConn) handle(f *codec.Frame, origin []byte, w *bytebufferpool.ByteBuffer) {
	n := pc.n
	isReq := f.Kind == codec.KindRequest
	if isReq && n.life.state.Load() != nodeRunning {
		w.B = appendError(w.B, f.ID, proto.CodeShutdown, "node is shutting down")
		pc.MarkAnswered()
		return
	}
	if pc.Short() && !isReq {
		pc.State.Mark(link.FlagCloseAfterReply) // a short link carries one message
	}
	if n.handler == nil {
		if isReq {
			w.B = appendError(w.B, f.ID, proto.CodeUnsupported, "no handler")
			pc.MarkAnswered()
		}
		return
	}
	if n.workers.Started() {
		pc.offload(f, origin, w)
		return
	}
	ls := pc.ls
	ls.markRan(f.Kind)
	// The loop's context, unless a handler on this loop is running and this
	// one nests in it: a handler may not keep its context past Handle.
	ctx, nested := &ls.ctx, ls.inHandler
	if nested {
		ctx = new(handlerContext)
	}
	ls.inHandler = true
	*ctx = handlerContext{pc: pc, kind: f.Kind, id: f.ID, origin: origin}
	out, panicked, err := n.runHandler(ctx, f.Payload)
	ls.inHandler = nested
	if !isReq {
		return
	}
	if ctx.deferred {
		return
	}
	if panicked == nil && err == nil {
		if err = n.linkEnv.CheckSize(len(out)); err != nil {
			out, err = nil, &proto.RemoteError{Code: proto.CodeTooLarge, Message: err.Error()}
		}
	}
	w.B = appendAnswer(w.B, f.ID, out, err, panicked)
	n.linkEnv.FramesOut.Add(1)
	pc.MarkAnswered()
}

// errorCode is the code and text a handler's error travels with: a
// *proto.RemoteError keeps its own code, any other error is CodeHandler.
func errorCode(err error) (proto.Code, string) {
	var re *proto.RemoteError
	if errors.As(err, &re) {
		return re.Code, re.Message
	}
	return proto.CodeHandler, err.Error()
}

// appendAnswer encodes a handler's outcome as a response or error frame.
func appendAnswer(dst []byte, id uint64, out []byte, err error, panicked any) []byte {
	switch {
	case panicked != nil:
		return appendError(dst, id, proto.CodePanic, fmt.Sprint(panicked))
	case err != nil:
		code, text := errorCode(err)
		return appendError(dst, id, code, text)
	}
	dst = codec.AppendHeader(dst, codec.KindResponse, 0, 0, id, len(out))
	return append(dst, out...)
}

// runHandler runs the handler, recovering a panic.
func (n *Node) runHandler(ctx proto.Context, msg []byte) (out []byte, panicked any, err error) {
	n.own.Enter()
	defer func() {
		n.own.Exit()
		if p := recover(); p != nil {
			panicked = p
			n.stats.HandlerPanics.Add(1)
			n.log.Error("handler panicked", "peer", ctx.Peer().String(), "panic", p)
		}
	}()
	out, err = n.handler.Handle(ctx, msg)
	return out, nil, err
}

// originOf parses a gossip origin, or returns the sender for other kinds.
func originOf(pc *peerConn, origin []byte) proto.PeerID {
	if origin == nil {
		return *pc.peer
	}
	id, _ := proto.ParsePeerID(string(origin))
	return id
}
