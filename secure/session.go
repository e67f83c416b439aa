package secure

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync/atomic"

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
// link's event loop). Sealing and opening allocate nothing, except the first
// time a direction is used after ReleaseIdle dropped its cipher.
type Session struct {
	// Peer is the remote node's static public key, authenticated by the
	// handshake.
	Peer []byte
	// Cipher is the suite the handshake agreed on.
	Cipher Cipher

	send, recv cipherState
}

// ReleaseIdle drops the expanded cipher (about 770 bytes a direction with
// AES-GCM, whose key schedule and GHASH table it holds) of each direction
// that sealed or opened nothing since the previous call, keeping only its
// 32-byte key and nonce; the next frame that way rebuilds it (AES-GCM: a
// few microseconds and 1.3 KB in two allocations). Pings and pongs do not
// count as use: a released direction seals or opens them with a cipher it
// does not keep, so a link that only keeps alive stays released. It reports
// whether both directions are now released. Safe to call from any goroutine,
// concurrently with sealing and opening: a caller that runs it at an
// interval of its choosing (the engine: a second) holds only keys for the
// links idle that long.
func (s *Session) ReleaseIdle() bool {
	a, b := s.send.releaseIdle(), s.recv.releaseIdle()
	return a && b
}

// Released reports whether both directions hold only their keys (see
// ReleaseIdle). Any goroutine; two atomic loads.
func (s *Session) Released() bool {
	return s.send.aead.Load() == nil && s.recv.aead.Load() == nil
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
	sealed, err := s.send.sealKeep(dst, dst[start:start+codec.HeaderSize], payload, !keepalive(kind))
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
	c := &s.recv
	codec.PutHeader(c.ad[:], f.Kind, f.Flags, f.TTL, f.ID, len(f.Payload))
	plain, err := c.openKeep(f.Payload[:0], c.ad[:], f.Payload, !keepalive(f.Kind))
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
// slice for every frame. The AEAD built from the key is kept while the
// direction is in use and dropped by releaseIdle when it is not.
type cipherState struct {
	key   [32]byte
	aead  atomic.Pointer[aeadBox] // nil while released
	n     uint64
	nonce [chacha20poly1305.NonceSize]byte
	used  atomic.Bool // sealed or opened since the last releaseIdle
	ad    [codec.HeaderSize]byte
	suite Cipher
}

type aeadBox struct{ cipher.AEAD }

// errNonceSpent: 2^64-1 frames went one way; Noise reserves the last nonce.
var errNonceSpent = errors.New("secure: nonce space exhausted")

func newCipherState(suite Cipher, cs *noise.CipherState) *cipherState {
	c := new(cipherState)
	c.init(suite, cs)
	return c
}

func (c *cipherState) init(suite Cipher, cs *noise.CipherState) {
	c.key, c.suite, c.n = cs.UnsafeKey(), suite, cs.Nonce()
	c.get(true)
}

// keepalive reports whether frames of kind k leave a direction idle: a link
// that carries only pings and pongs stays released, each of them sealed or
// opened with a cipher built for it and not kept.
func keepalive(k codec.Kind) bool { return k == codec.KindPing || k == codec.KindPong }

// get returns the direction's AEAD, built from the key if it was released;
// keep marks the direction used and keeps what it built.
func (c *cipherState) get(keep bool) cipher.AEAD {
	if keep && !c.used.Load() {
		c.used.Store(true)
	}
	if b := c.aead.Load(); b != nil {
		return b.AEAD
	}
	var aead cipher.AEAD
	var err error
	if c.suite == AESGCM {
		var block cipher.Block
		if block, err = aes.NewCipher(c.key[:]); err == nil {
			aead, err = cipher.NewGCM(block)
		}
	} else {
		aead, err = chacha20poly1305.New(c.key[:])
	}
	if err != nil {
		panic(err) // only for a key that is not 32 bytes
	}
	if keep {
		c.aead.Store(&aeadBox{aead})
	}
	return aead
}

// releaseIdle drops the AEAD if the direction was not used since the last
// call, and reports whether it is released.
func (c *cipherState) releaseIdle() bool {
	if c.used.Swap(false) {
		return false
	}
	c.aead.Store(nil)
	return true
}

// next returns the nonce of the next frame: four zero bytes and the
// counter, little-endian for ChaChaPoly, big-endian for AESGCM.
func (c *cipherState) next() ([]byte, error) {
	if c.n == math.MaxUint64 {
		return nil, errNonceSpent
	}
	if c.suite == AESGCM {
		binary.BigEndian.PutUint64(c.nonce[4:], c.n)
	} else {
		binary.LittleEndian.PutUint64(c.nonce[4:], c.n)
	}
	c.n++
	return c.nonce[:], nil
}

func (c *cipherState) seal(dst, ad, plaintext []byte) ([]byte, error) {
	return c.sealKeep(dst, ad, plaintext, true)
}

func (c *cipherState) open(dst, ad, ciphertext []byte) ([]byte, error) {
	return c.openKeep(dst, ad, ciphertext, true)
}

// sealKeep seals; keep says whether the frame makes the direction used.
func (c *cipherState) sealKeep(dst, ad, plaintext []byte, keep bool) ([]byte, error) {
	nonce, err := c.next()
	if err != nil {
		return dst, err
	}
	return c.get(keep).Seal(dst, nonce, plaintext, ad), nil
}

// openKeep opens; keep says whether the frame makes the direction used.
func (c *cipherState) openKeep(dst, ad, ciphertext []byte, keep bool) ([]byte, error) {
	nonce, err := c.next()
	if err != nil {
		return nil, err
	}
	return c.get(keep).Open(dst, nonce, ciphertext, ad)
}
