package secure

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/flynn/noise"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/antnet-p2p/antnet/codec"
)

// Overhead is what sealing adds to a frame: the AEAD's tag (Poly1305 or
// GCM, 16 bytes either way).
const Overhead = 16

// ErrOpen is returned for a frame whose payload does not authenticate:
// tampered with, replayed, reordered, or sealed with another key.
var ErrOpen = errors.New("secure: frame failed authentication")

// Session seals and opens the frames of one link. Each direction has its own
// key and a nonce that counts frames, so frames must be opened in the order
// they were sealed. Not safe for concurrent use: one goroutine at a time
// seals (the engine seals under the link's lock), and one opens (the
// link's event loop). Sealing and opening allocate nothing.
type Session struct {
	// Peer is the remote node's static public key, authenticated by the
	// handshake.
	Peer []byte
	// Cipher is the suite the handshake agreed on.
	Cipher Cipher

	send, recv *cipherState
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
		if dst, err = s.AppendSealed(dst, f.Kind, f.Flags, f.TTL, f.ID, f.Payload); err != nil {
			return dst, err
		}
		plain = plain[n:]
	}
	return dst, nil
}

// AppendSealed appends to dst one frame built from its header fields and
// payload, sealed as SealFrames seals it, without encoding it in the clear
// first. On error dst is returned as it was.
func (s *Session) AppendSealed(dst []byte, kind codec.Kind, flags, ttl uint8, id uint64, payload []byte) ([]byte, error) {
	start := len(dst)
	dst = codec.AppendHeader(dst, kind, flags, ttl, id, len(payload)+Overhead)
	sealed, err := s.send.seal(dst, dst[start:start+codec.HeaderSize], payload)
	if err != nil {
		return dst[:start], err
	}
	return sealed, nil
}

// Open authenticates and decrypts a sealed frame in place: f.Payload is
// replaced by the plaintext, which aliases the old payload.
func (s *Session) Open(f *codec.Frame) error {
	if len(f.Payload) < Overhead {
		return fmt.Errorf("%w: payload shorter than the tag", ErrOpen)
	}
	c := s.recv
	codec.PutHeader(c.ad[:], f.Kind, f.Flags, f.TTL, f.ID, len(f.Payload))
	plain, err := c.open(f.Payload[:0], c.ad[:], f.Payload)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrOpen, err)
	}
	f.Payload = plain
	return nil
}

// cipherState is Noise's transport CipherState for ChaChaPoly or AESGCM
// (Noise spec, sections 5.1, 12.3 and 12.4): one direction's key and the
// count of frames sealed or opened with it, which is the nonce. The key
// comes out of flynn/noise's handshake; the state keeps its own nonce and
// header buffers because flynn/noise's CipherState builds a new nonce
// slice for every frame.
type cipherState struct {
	aead      cipher.AEAD
	n         uint64
	bigEndian bool // AESGCM's nonce counter; ChaChaPoly's is little-endian
	nonce     [chacha20poly1305.NonceSize]byte
	ad        [codec.HeaderSize]byte
}

// errNonceSpent: 2^64-1 frames went one way; Noise reserves the last nonce.
var errNonceSpent = errors.New("secure: nonce space exhausted")

func newCipherState(suite Cipher, cs *noise.CipherState) *cipherState {
	k := cs.UnsafeKey()
	var aead cipher.AEAD
	var err error
	if suite == AESGCM {
		var block cipher.Block
		if block, err = aes.NewCipher(k[:]); err == nil {
			aead, err = cipher.NewGCM(block)
		}
	} else {
		aead, err = chacha20poly1305.New(k[:])
	}
	if err != nil {
		panic(err) // only for a key that is not 32 bytes
	}
	return &cipherState{aead: aead, n: cs.Nonce(), bigEndian: suite == AESGCM}
}

// next returns the nonce of the next frame: four zero bytes and the
// counter, little-endian for ChaChaPoly, big-endian for AESGCM.
func (c *cipherState) next() ([]byte, error) {
	if c.n == math.MaxUint64 {
		return nil, errNonceSpent
	}
	if c.bigEndian {
		binary.BigEndian.PutUint64(c.nonce[4:], c.n)
	} else {
		binary.LittleEndian.PutUint64(c.nonce[4:], c.n)
	}
	c.n++
	return c.nonce[:], nil
}

func (c *cipherState) seal(dst, ad, plaintext []byte) ([]byte, error) {
	nonce, err := c.next()
	if err != nil {
		return dst, err
	}
	return c.aead.Seal(dst, nonce, plaintext, ad), nil
}

func (c *cipherState) open(dst, ad, ciphertext []byte) ([]byte, error) {
	nonce, err := c.next()
	if err != nil {
		return nil, err
	}
	return c.aead.Open(dst, nonce, ciphertext, ad)
}
