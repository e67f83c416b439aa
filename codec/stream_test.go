package codec

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
)

// TestStreamReaderSplitAndCoalesced: frames larger than the buffer, split
// anywhere (a byte, then the rest) and run together, come out whole and in
// order; what follows a frame is kept for the next call.
func TestStreamReaderSplitAndCoalesced(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	var wire []byte
	for i := range 3 {
		wire = AppendHeader(wire, KindRequest, 0, 0, uint64(i+1), 5000)
		wire = append(wire, bytes.Repeat([]byte{byte(i)}, 5000)...)
	}
	wire = AppendHeader(wire, KindNotice, 0, 0, 4, 3)
	wire = append(wire, "end"...)
	go func() {
		_, _ = a.Write(wire[:1])
		_, _ = a.Write(wire[1:])
		_ = a.Close()
	}()
	sr := StreamReader{R: b}
	for i := range 3 {
		f, err := sr.Next(0)
		if err != nil || f.ID != uint64(i+1) || len(f.Payload) != 5000 || f.Payload[4999] != byte(i) {
			t.Fatalf("frame %d: id %d, %d bytes, %v", i, f.ID, len(f.Payload), err)
		}
	}
	if f, err := sr.Next(0); err != nil || string(f.Payload) != "end" {
		t.Fatalf("last frame: %q, %v", f.Payload, err)
	}
	if sr.Used() != len(wire) || sr.Buffered() != 0 {
		t.Fatalf("used %d of %d bytes, %d buffered", sr.Used(), len(wire), sr.Buffered())
	}
	if _, err := sr.Next(0); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

// TestStreamReaderTellsBadBytesFromAFailedStream: bytes that are not a
// frame are a *DecodeError wrapping the codec's sentinel; a stream that
// ends inside a frame returns the stream's error.
func TestStreamReaderTellsBadBytesFromAFailedStream(t *testing.T) {
	big := AppendHeader(nil, KindRequest, 0, 0, 1, 100)
	sr := StreamReader{R: bytes.NewReader(big)}
	_, err := sr.Next(64)
	var de *DecodeError
	if !errors.As(err, &de) || !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("a frame over the limit: %v, want a DecodeError for ErrFrameTooLarge", err)
	}
	cut := AppendHeader(nil, KindRequest, 0, 0, 1, 100)[:10]
	sr.Reset(bytes.NewReader(cut))
	if _, err := sr.Next(0); err != io.EOF || errors.As(err, &de) {
		t.Fatalf("a stream cut inside a frame: %v, want io.EOF", err)
	}
}
