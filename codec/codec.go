// Package codec is antnet's wire: length-prefixed frames with a fixed 16-byte
// header.
//
//	| length u32 BE | version u8 | kind u8 | flags u8 | ttl u8 | id u64 BE | payload |
//
// length counts the bytes after the length field (12 header bytes plus the
// payload). Encoding appends to a caller's buffer (usually a pooled
// bytebufferpool.ByteBuffer); decoding reads frames out of a byte slice or a
// gnet-like Reader without copying. The package has no goroutines, no locks and
// no dependency on gnet.
package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"github.com/valyala/bytebufferpool"
)

// Version is the wire version this package writes and accepts.
const Version = 1

// HeaderSize is the size of a frame's header, length field included.
const HeaderSize = 16

// lengthSize is the size of the length prefix.
const lengthSize = 4

// DefaultMaxFrameSize is the largest frame (header included) a decoder accepts
// unless told otherwise: 4 MiB.
const DefaultMaxFrameSize = 4 << 20

// Kind says what a frame carries.
type Kind uint8

// Frame kinds. Zero is never valid on the wire.
const (
	KindHello       Kind = iota + 1 // dialer's greeting: name, listen address, nonce
	KindHelloAck                    // acceptor's answer to hello
	KindRequest                     // expects a response or error-response with the same id
	KindResponse                    // answers the request with the same id
	KindError                       // error-response: answers a request with an error
	KindNotice                      // one-way message, no answer
	KindGossip                      // broadcast relayed peer to peer
	KindPing                        // liveness probe; answered by pong with the same id
	KindPong                        // answer to ping
	KindGoaway                      // the sender will close this connection; send nothing new on it
	KindSecure                      // a Noise handshake message (secure links, before hello)
	KindPexRequest                  // peer exchange: asks for addresses of peers the receiver knows
	KindPexResponse                 // peer exchange: answers pex-request with the same id
	KindPrune                       // broadcast trees: stop pushing payloads to the sender
	KindIHave                       // broadcast trees: ids of broadcasts the sender has
	KindGraft                       // broadcast trees: push payloads to the sender again; send these ids
	kindEnd
)

var kindNames = [...]string{"invalid", "hello", "hello-ack", "request", "response", "error", "notice", "gossip", "ping", "pong", "goaway", "secure", "pex-request", "pex-response", "prune", "ihave", "graft"}

// String returns the kind's wire name, or "kind(N)" for an unknown kind.
func (k Kind) String() string {
	if k < kindEnd {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Valid reports whether k is a kind this version knows.
func (k Kind) Valid() bool { return k > 0 && k < kindEnd }

// Errors returned by the decoder. Each one means the stream cannot be trusted
// any more: close the connection.
var (
	// ErrFrameTooLarge: the length prefix exceeds the decoder's maximum.
	// Nothing was allocated for the frame.
	ErrFrameTooLarge = errors.New("codec: frame exceeds max frame size")
	// ErrShortFrame: the length prefix is smaller than the header.
	ErrShortFrame = errors.New("codec: frame length shorter than header")
	// ErrVersion: the frame carries a version this decoder does not speak.
	ErrVersion = errors.New("codec: unsupported wire version")
)

// SizeError reports a frame over the max frame size. It matches
// ErrFrameTooLarge with errors.Is. Building one costs a single small
// allocation, whatever size the peer announced.
type SizeError struct {
	Size uint64 // bytes the frame would occupy, header included
	Max  int    // the limit it broke
}

// Error returns "codec: frame exceeds max frame size: SIZE > MAX bytes".
func (e *SizeError) Error() string {
	b := make([]byte, 0, 80)
	b = append(b, ErrFrameTooLarge.Error()...)
	b = append(b, ": "...)
	b = strconv.AppendUint(b, e.Size, 10)
	b = append(b, " > "...)
	b = strconv.AppendInt(b, int64(e.Max), 10)
	b = append(b, " bytes"...)
	return string(b)
}

// Unwrap returns ErrFrameTooLarge.
func (e *SizeError) Unwrap() error { return ErrFrameTooLarge }

// Frame is one decoded frame. Payload aliases the decoder's input: it is valid
// only until the input is discarded or overwritten.
type Frame struct {
	Kind    Kind
	Flags   uint8
	TTL     uint8
	ID      uint64
	Payload []byte
}

// Size returns the frame's encoded size in bytes.
func (f *Frame) Size() int { return HeaderSize + len(f.Payload) }

// Append appends f's encoding to dst and returns the extended slice. It
// allocates only when dst lacks capacity.
func Append(dst []byte, f Frame) []byte {
	dst = AppendHeader(dst, f.Kind, f.Flags, f.TTL, f.ID, len(f.Payload))
	return append(dst, f.Payload...)
}

// AppendHeader appends a header for a payload of payloadLen bytes; the caller
// appends the payload itself. Useful when the payload is built in place.
func AppendHeader(dst []byte, kind Kind, flags, ttl uint8, id uint64, payloadLen int) []byte {
	var h [HeaderSize]byte
	PutHeader(h[:], kind, flags, ttl, id, payloadLen)
	return append(dst, h[:]...)
}

// PutHeader writes a header into h, which must be at least HeaderSize long.
func PutHeader(h []byte, kind Kind, flags, ttl uint8, id uint64, payloadLen int) {
	_ = h[HeaderSize-1]
	binary.BigEndian.PutUint32(h[0:4], uint32(HeaderSize-lengthSize+payloadLen))
	h[4] = Version
	h[5] = byte(kind)
	h[6] = flags
	h[7] = ttl
	binary.BigEndian.PutUint64(h[8:16], id)
}

// FrameLen inspects the first bytes of b and returns the full size of the
// frame that starts there (header included). It returns 0 and no error when b
// holds fewer than 4 bytes. maxFrame <= 0 means DefaultMaxFrameSize.
func FrameLen(b []byte, maxFrame int) (int, error) {
	if len(b) < lengthSize {
		return 0, nil
	}
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrameSize
	}
	n := uint64(binary.BigEndian.Uint32(b)) + lengthSize
	if n < HeaderSize {
		return 0, ErrShortFrame
	}
	if n > uint64(maxFrame) {
		return 0, &SizeError{Size: n, Max: maxFrame}
	}
	return int(n), nil
}

// Decode decodes the frame at the start of b. It returns the frame and the
// number of bytes it occupies; n == 0 with a nil error means b does not yet hold
// a whole frame. The payload aliases b. maxFrame <= 0 means DefaultMaxFrameSize.
func Decode(b []byte, maxFrame int) (f Frame, n int, err error) {
	n, err = FrameLen(b, maxFrame)
	if err != nil || n == 0 || len(b) < n {
		return Frame{}, 0, err
	}
	if len(b) >= 5 && b[4] != Version {
		return Frame{}, 0, fmt.Errorf("%w: %d", ErrVersion, b[4])
	}
	f = Frame{
		Kind:    Kind(b[5]),
		Flags:   b[6],
		TTL:     b[7],
		ID:      binary.BigEndian.Uint64(b[8:16]),
		Payload: b[HeaderSize:n:n],
	}
	return f, n, nil
}

// Encode encodes f into a buffer from bytebufferpool. The caller owns the
// buffer and returns it with bytebufferpool.Put once the bytes are written.
func Encode(f Frame) *bytebufferpool.ByteBuffer {
	bb := bytebufferpool.Get()
	bb.B = Append(bb.B, f)
	return bb
}
