// Package secure makes antnet links authenticated and encrypted: a static
// X25519 identity per node, a Noise XX handshake (github.com/flynn/noise)
// carried in frames before hello, and sealing of every frame's payload
// afterwards, with the frame header as associated data. The two ends
// negotiate the suite in the handshake: Noise_XX_25519_AESGCM_SHA256 when
// both have AES in hardware, Noise_XX_25519_ChaChaPoly_BLAKE2s otherwise
// (see Cipher). It has no goroutines; the engine calls it from its event
// callbacks.
package secure

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/flynn/noise"
)

// KeySize is the size of a public or private key.
const KeySize = 32

// ErrBadKey is returned for a private key of the wrong size, or a key file
// that does not hold one (LoadOrCreate). Point to the right file, or delete
// it to have a new key made.
var ErrBadKey = errors.New("not an antnet key file")

// Identity is a node's static X25519 key pair.
type Identity struct {
	key noise.DHKey
}

// Generate makes a new random identity.
func Generate() (*Identity, error) {
	k, err := noise.DH25519.GenerateKeypair(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("secure: generate key: %w", err)
	}
	return &Identity{key: k}, nil
}

// FromPrivate rebuilds an identity from its 32-byte private key.
func FromPrivate(priv []byte) (*Identity, error) {
	if len(priv) != KeySize {
		return nil, fmt.Errorf("secure: %w: private key is %d bytes, want %d", ErrBadKey, len(priv), KeySize)
	}
	k, err := noise.DH25519.GenerateKeypair(fixedReader(priv))
	if err != nil {
		return nil, err
	}
	return &Identity{key: k}, nil
}

// LoadOrCreate reads the identity in path (the private key, one line of 64
// hex digits), or, if the file does not exist, generates one and writes it
// there with mode 0600. A file that holds something else is ErrBadKey,
// "FILE: not an antnet key file (...)".
func LoadOrCreate(path string) (*Identity, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		id, err := Generate()
		if err != nil {
			return nil, err
		}
		line := hex.EncodeToString(id.key.Private) + "\n"
		if err := os.WriteFile(path, []byte(line), 0o600); err != nil {
			return nil, fmt.Errorf("secure: save key: %w", err)
		}
		return id, nil
	}
	if err != nil {
		return nil, fmt.Errorf("secure: read key: %w", err)
	}
	priv, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err == nil && len(priv) != KeySize {
		err = fmt.Errorf("%d bytes, want %d", len(priv), KeySize)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w (want one line of %d hex digits: %v)", path, ErrBadKey, 2*KeySize, err)
	}
	return FromPrivate(priv)
}

// Public returns the identity's public key. The caller must not modify it.
func (id *Identity) Public() []byte { return id.key.Public }

// fixedReader feeds a known private key to GenerateKeypair.
type fixedReader []byte

func (r fixedReader) Read(p []byte) (int, error) { return copy(p, r), nil }
