package proto_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/proto"
)

var peer = proto.PeerID{Name: "bob", Addr: "10.0.0.1:7000"}

func TestRemoteErrorIs(t *testing.T) {
	sentinels := []error{proto.ErrRemote, proto.ErrHandlerPanic, proto.ErrRemoteShutdown, proto.ErrRemoteBusy, proto.ErrUnsupported, codec.ErrFrameTooLarge}
	tests := []struct {
		code  proto.Code
		name  string
		match error // the code's own sentinel besides ErrRemote, or nil
	}{
		{proto.CodeHandler, "handler error", nil},
		{proto.CodePanic, "handler panic", proto.ErrHandlerPanic},
		{proto.CodeUnsupported, "unsupported", proto.ErrUnsupported},
		{proto.CodeShutdown, "shutting down", proto.ErrRemoteShutdown},
		{proto.CodeBusy, "busy", proto.ErrRemoteBusy},
		{proto.CodeTooLarge, "too large", codec.ErrFrameTooLarge},
		{0, "code(0)", nil},
		{99, "code(99)", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.code.String(); got != tt.name {
				t.Errorf("String() = %q, want %q", got, tt.name)
			}
			var err error = &proto.RemoteError{Peer: peer, Code: tt.code, Message: "boom"}
			wrapped := fmt.Errorf("call: %w", err)
			for _, s := range sentinels {
				want := s == proto.ErrRemote || s == tt.match
				if got := errors.Is(wrapped, s); got != want {
					t.Errorf("errors.Is(%v, %v) = %v, want %v", err, s, got, want)
				}
			}
			if errors.Is(err, codec.ErrVersion) || errors.Is(err, proto.ErrBadHello) {
				t.Error("RemoteError matches an unrelated sentinel")
			}
			var re *proto.RemoteError
			if !errors.As(wrapped, &re) || re.Code != tt.code || re.Peer != peer || re.Message != "boom" {
				t.Errorf("errors.As = %+v", re)
			}
			msg := err.Error()
			for _, part := range []string{tt.name, peer.String(), "boom"} {
				if !strings.Contains(msg, part) {
					t.Errorf("Error() = %q, missing %q", msg, part)
				}
			}
		})
	}
}

func TestErrorPayloadRoundTrip(t *testing.T) {
	tests := []struct {
		code proto.Code
		msg  string
	}{
		{proto.CodeHandler, "not found"},
		{proto.CodePanic, ""},
		{proto.CodeBusy, "too many in flight"},
		{proto.CodeShutdown, "ünïcode ✓"},
		{proto.CodeUnsupported, strings.Repeat("m", 10000)},
		{200, "unknown code"},
	}
	for _, tt := range tests {
		b := proto.AppendError([]byte("pre"), tt.code, tt.msg)
		if string(b[:3]) != "pre" || len(b) != 3+1+len(tt.msg) {
			t.Fatalf("AppendError = %q", b)
		}
		e := proto.ParseError(peer, b[3:])
		if e.Peer != peer || e.Code != tt.code || e.Message != tt.msg {
			t.Errorf("ParseError = %+v; want code %d msg %.20q", e, tt.code, tt.msg)
		}
	}
}

func TestParseErrorEmpty(t *testing.T) {
	e := proto.ParseError(peer, nil)
	if e.Code != proto.CodeHandler || e.Message == "" || e.Peer != peer || !errors.Is(e, proto.ErrRemote) {
		t.Fatalf("ParseError(empty) = %+v", e)
	}
}

func TestParseErrorCopies(t *testing.T) {
	b := proto.AppendError(nil, proto.CodeHandler, "abc")
	e := proto.ParseError(peer, b)
	b[1] = 'X' // the frame buffer gets reused after the handler returns
	if e.Message != "abc" {
		t.Fatalf("Message = %q; it aliases the payload", e.Message)
	}
}

func TestHandlerFunc(t *testing.T) {
	var h proto.Handler = proto.HandlerFunc(func(ctx proto.Context, msg []byte) ([]byte, error) {
		return append([]byte("echo:"), msg...), nil
	})
	got, err := h.Handle(nil, []byte("x"))
	if err != nil || string(got) != "echo:x" {
		t.Fatalf("Handle = %q, %v", got, err)
	}
}
