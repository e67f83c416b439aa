package secure

import (
	"errors"
	"fmt"

	"github.com/antnet-p2p/antnet/codec"
)

// Overhead is what sealing adds to a frame: the Poly1305 tag.
const Overhead = 16

// ErrOpen is returned for a frame whose payload does not authenticate:
// tampered with, replayed, reordered, or sealed with another key.
var ErrOpen = errors.New("secure: frame failed authentication")

// Session seals and opens the frames of one link. Each direction has its own
// key and a nonce that counts frames, so frames must be opened in the order
// they were sealed. Not safe for concurrent use: each direction is used by
// one event loop.
type Session struct {
	// Peer is the remote node's static public key, authenticated by the
	// handshake.
	Peer []byte

	send, recv interface {
		Encrypt(out, ad, plaintext []byte) ([]byte, error)
		Decrypt(out, ad, ciphertext []byte) ([]byte, error)
	}
}

// SealFrames appends to dst every frame of plain (whole frames, as encoded by
// codec), each with its payload sealed and its length grown by Overhead. The
// sealed frame's header is the associated data, so the kind, flags, ttl and
// id are authenticated too.
func (s *Session) SealFrames(dst, plain []byte) ([]byte, error) {
	for len(plain) > 0 {
		f, n, err := codec.Decode(plain, len(plain)+1)
		if err != nil || n == 0 {
			return dst, fmt.Errorf("secure: seal: malformed plain frame: %v", err)
		}
		start := len(dst)
		dst = codec.AppendHeader(dst, f.Kind, f.Flags, f.TTL, f.ID, len(f.Payload)+Overhead)
		if dst, err = s.send.Encrypt(dst, dst[start:start+codec.HeaderSize], f.Payload); err != nil {
			return dst, err
		}
		plain = plain[n:]
	}
	return dst, nil
}

// Open authenticates and decrypts a sealed frame in place: f.Payload is
// replaced by the plaintext, which aliases the old payload.
func (s *Session) Open(f *codec.Frame) error {
	if len(f.Payload) < Overhead {
		return fmt.Errorf("%w: payload shorter than the tag", ErrOpen)
	}
	var header [codec.HeaderSize]byte
	codec.PutHeader(header[:], f.Kind, f.Flags, f.TTL, f.ID, len(f.Payload))
	plain, err := s.recv.Decrypt(f.Payload[:0], header[:], f.Payload)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrOpen, err)
	}
	f.Payload = plain
	return nil
}
