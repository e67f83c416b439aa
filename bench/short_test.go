package main

import (
	"bytes"
	"net"
	"testing"

	"github.com/antnet-p2p/antnet/codec"
)

// The original design's short router echoes over a fresh connection per
// call, and its server goroutines are gone once it closes.
func TestOrigShortRouter(t *testing.T) {
	s, err := startOrigServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &origCaller{addr: s.Addr(), fb: newFrameBuf()}
	for i := range 5 {
		msg := bytes.Repeat([]byte{byte(i)}, 128+i*3000) // the last ones exceed the 4 KiB buffer
		got, err := c.call(msg, nil)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("call %d: %d bytes, %v", i, len(got), err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.call([]byte("x"), nil); err == nil {
		t.Fatal("a call after Close succeeded")
	}
}

// frameBuf returns frames that arrive a byte at a time, and keeps what
// follows a frame for the next call.
func TestFrameBufSplitAndCoalesced(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	var wire []byte
	for i := range 3 {
		wire = codec.AppendHeader(wire, codec.KindRequest, 0, 0, uint64(i+1), 5000)
		wire = append(wire, bytes.Repeat([]byte{byte(i)}, 5000)...)
	}
	go func() {
		_, _ = a.Write(wire[:1]) // one byte, then the rest at once
		_, _ = a.Write(wire[1:])
	}()
	fb := newFrameBuf()
	for i := range 3 {
		f, err := fb.next(b)
		if err != nil || f.ID != uint64(i+1) || len(f.Payload) != 5000 || f.Payload[4999] != byte(i) {
			t.Fatalf("frame %d: id %d, %d bytes, %v", i, f.ID, len(f.Payload), err)
		}
	}
}
