package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/antnet-p2p/antnet/engine"
	"github.com/antnet-p2p/antnet/proto"
)

// Operations of the greeting state machine. The caller sends the -req ones,
// the callee answers with the -resp ones; the caller's Handle turns each
// answer into its next request, until notice-resp ends the exchange.
const (
	ConnectReq  = "connect-req"
	ConnectResp = "connect-resp"
	GetReq      = "get-req"
	GetResp     = "get-resp"
	FetchReq    = "fetch-req"
	FetchResp   = "fetch-resp"
	NoticeReq   = "notice-req"
	NoticeResp  = "notice-resp"
	UnknownOp   = "unknown-op"
)

// maxSteps bounds a greeting, so a misbehaving peer cannot loop it forever.
const maxSteps = 16

var (
	// ErrMismatchReq: the message is not protocol JSON.
	ErrMismatchReq = errors.New("seed: malformed message")
	// ErrMismatchData: a message's data does not fit its operation.
	ErrMismatchData = errors.New("seed: malformed data")
)

// Msg is the protocol's only message.
type Msg struct {
	Name      string          `json:"name"`
	Operation string          `json:"operation"`
	Data      json.RawMessage `json:"data,omitempty"`
}

// Greeting is the data of a connect-req: where the caller listens.
type Greeting struct {
	Addr string `json:"addr"`
}

// Protocol is the seed's duplex state machine on top of an antnet node. Its
// Handle serves the node and also advances the caller's side of a greeting.
type Protocol struct {
	Node    *engine.Node
	name    string
	handled atomic.Int64 // messages received from peers

	learning sync.WaitGroup // routes being added in the background
	mu       sync.Mutex
	learnErr error
}

// NewProtocol makes a node named name, listening on listen, served by a new
// Protocol. Start the node before use.
func NewProtocol(name, listen string, opts ...engine.Option) (*Protocol, error) {
	p := &Protocol{name: name}
	n, err := engine.New(name, listen, p, opts...)
	if err != nil {
		return nil, err
	}
	p.Node = n
	return p, nil
}

// Handled reports how many messages peers have sent this node.
func (p *Protocol) Handled() int64 { return p.handled.Load() }

// Handle answers msg with the next message of the state machine; nil means
// the exchange is over. ctx is nil when the caller advances its own side.
func (p *Protocol) Handle(ctx proto.Context, msg []byte) ([]byte, error) {
	if ctx != nil {
		p.handled.Add(1)
	}
	var req Msg
	if err := json.Unmarshal(msg, &req); err != nil {
		return p.message(UnknownOp, nil), fmt.Errorf("%w: %v", ErrMismatchReq, err)
	}
	var op string
	switch req.Operation {
	case ConnectReq:
		var g Greeting
		if err := json.Unmarshal(req.Data, &g); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrMismatchData, ConnectReq, err)
		}
		if ctx != nil && ctx.Short() {
			// A short connection does not add the caller: learn it here. In
			// persistent mode the engine added it at the handshake.
			if err := p.learn(req.Name, g.Addr); err != nil {
				return nil, err
			}
		}
		op = ConnectResp
	case GetReq:
		op = GetResp
	case FetchReq:
		op = FetchResp
	case NoticeReq:
		op = NoticeResp
	case ConnectResp:
		op = GetReq
	case GetResp:
		op = FetchReq
	case FetchResp:
		op = NoticeReq
	case NoticeResp, UnknownOp:
		return nil, nil // done; answering unknown-op would ping-pong forever
	default:
		op = UnknownOp
	}
	return p.message(op, nil), nil
}

// learn adds the caller as a short-mode route.
func (p *Protocol) learn(name, addr string) error {
	err := p.Node.AddRoute(name, addr)
	if !errors.Is(err, engine.ErrOnEventLoop) {
		return err
	}
	// The engine refuses AddRoute on its event loop even in short mode, where
	// it only records the address: record it from a goroutine (see Settle).
	p.learning.Go(func() {
		if err := p.Node.AddRoute(name, addr); err != nil {
			p.mu.Lock()
			p.learnErr = errors.Join(p.learnErr, err)
			p.mu.Unlock()
		}
	})
	return nil
}

// Settle waits for the routes learned in the background and returns their
// errors.
func (p *Protocol) Settle() error {
	p.learning.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.learnErr
}

// Greet runs the greeting with peer as the seed does: send, let Handle turn
// the reply into the next message, until Handle has none. Each step is
// written to trace.
func (p *Protocol) Greet(peer string, trace io.Writer) error {
	data, _ := json.Marshal(Greeting{Addr: p.Node.Addr()})
	msg := p.message(ConnectReq, data)
	for range maxSteps {
		step(trace, msg, peer)
		reply, err := p.Node.Dispatch(peer, msg)
		if err != nil {
			return fmt.Errorf("%s: %w", Op(msg), err)
		}
		step(trace, reply, p.name)
		if msg, err = p.Handle(nil, reply); err != nil {
			return err
		}
		if msg == nil {
			fmt.Fprintf(trace, "%s  done\n", p.name)
			return nil
		}
	}
	return fmt.Errorf("greeting with %s did not end in %d steps", peer, maxSteps)
}

// message encodes a message from this node.
func (p *Protocol) message(op string, data json.RawMessage) []byte {
	b, _ := json.Marshal(Msg{Name: p.name, Operation: op, Data: data})
	return b
}

// Op returns msg's operation, or "" if msg does not parse.
func Op(msg []byte) string {
	var m Msg
	if json.Unmarshal(msg, &m) != nil {
		return ""
	}
	return m.Operation
}

// step writes one trace line: "from -> to  operation".
func step(w io.Writer, msg []byte, to string) {
	var m Msg
	_ = json.Unmarshal(msg, &m)
	fmt.Fprintf(w, "%s -> %s  %s\n", m.Name, to, m.Operation)
}
