package engine

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/proto"
	"github.com/antnet-p2p/antnet/secure"
)

// Item 4: the max frame size counts the seal. A message or reply that
// would exceed it fails locally with codec.ErrFrameTooLarge and the link,
// with a request in flight on it, lives.
func TestMaxFrameCountsSeal(t *testing.T) {
	const max = 64 << 10
	for _, tc := range []struct {
		name    string
		secure  bool
		workers bool
	}{{"plain", false, false}, {"secure", true, false}, {"plain workers", false, true}, {"secure workers", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			limit := max - codec.HeaderSize // largest payload that fits
			opts := []Option{WithMaxFrameSize(max)}
			if tc.secure {
				limit -= secure.Overhead
			}
			release := make(chan struct{})
			var holding atomic.Bool
			h := proto.HandlerFunc(func(ctx proto.Context, msg []byte) ([]byte, error) {
				switch string(msg) {
				case "hold":
					r := ctx.Defer()
					holding.Store(true)
					go func() { <-release; _ = r.Send([]byte("held"), nil) }()
					return nil, nil
				case "big reply":
					return make([]byte, limit+1), nil
				case "big deferred reply":
					r := ctx.Defer()
					go func() { _ = r.Send(make([]byte, limit+1), nil) }()
					return nil, nil
				}
				return msg, nil
			})
			aOpts, bOpts := opts, opts
			if tc.secure {
				aOpts = append(aOpts, WithIdentity(newIdentity(t)))
				bOpts = append(bOpts, WithIdentity(newIdentity(t)))
			}
			if tc.workers {
				bOpts = append(bOpts, WithWorkers(2), WithWorkerQueue(16))
			}
			a := startNode(t, "a", nil, aOpts...)
			b := startNode(t, "b", h, bOpts...)
			linkNodes(t, a, b)
			held := make(chan error, 1)
			go func() {
				got, err := a.Dispatch("b", []byte("hold"))
				if err == nil && string(got) != "held" {
					err = fmt.Errorf("got %q", got)
				}
				held <- err
			}()
			eventually(t, 2*time.Second, "request in flight", holding.Load)

			_, err := a.Dispatch("b", make([]byte, limit+1))
			mustErrIs(t, err, codec.ErrFrameTooLarge)
			mustErrIs(t, a.Send("b", make([]byte, limit+1)), codec.ErrFrameTooLarge)
			_, err = a.Broadcast(make([]byte, limit))
			mustErrIs(t, err, codec.ErrFrameTooLarge)
			if got, err := a.Dispatch("b", make([]byte, limit)); err != nil || len(got) != limit {
				t.Fatalf("a payload of exactly the limit: %d bytes back, %v", len(got), err)
			}
			for _, ask := range []string{"big reply", "big deferred reply"} {
				_, err = a.Dispatch("b", []byte(ask))
				mustErrIs(t, err, codec.ErrFrameTooLarge)
				mustErrIs(t, err, proto.ErrRemote)
				var re *proto.RemoteError
				if !errors.As(err, &re) || re.Code == proto.CodeHandler {
					t.Fatalf("%s: reported as %v", ask, err)
				}
			}
			close(release)
			if err := <-held; err != nil {
				t.Fatalf("the request in flight failed: %v", err)
			}
			if pa, pb := a.Stats().ProtocolErrors, b.Stats().ProtocolErrors; pa+pb != 0 {
				t.Fatalf("protocol errors: a %d, b %d", pa, pb)
			}
			if got, err := a.Dispatch("b", []byte("ok")); err != nil || string(got) != "ok" {
				t.Fatalf("after: %q %v", got, err)
			}
		})
	}
}
