package main

import (
	"bytes"
	"testing"
)

// The original design's short router echoes over a fresh connection per
// call, and its server goroutines are gone once it closes.
func TestOrigShortRouter(t *testing.T) {
	s, err := startOrigServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &origCaller{addr: s.Addr()}
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
