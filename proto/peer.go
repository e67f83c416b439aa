package proto

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
)

// PeerID names a peer: Name@Addr, where Addr is the host:port the peer
// listens on (never an ephemeral dial port). Names may repeat across a
// network; addresses may not.
type PeerID struct {
	Name string
	Addr string
	// Key is the peer's static public key (raw bytes) on secure links, and
	// empty otherwise. It is what a secure peer's identity rests on.
	Key string
}

// ErrBadPeerID is returned for a peer ID or address that does not parse.
var ErrBadPeerID = errors.New("antnet: malformed peer id")

// String returns "name@host:port".
func (p PeerID) String() string { return p.Name + "@" + p.Addr }

// IsZero reports whether p is the zero PeerID.
func (p PeerID) IsZero() bool { return p.Name == "" && p.Addr == "" }

// Compare orders peer IDs by key when both have one, else by their string
// form; it returns -1, 0 or +1. (The duplicate-connection rule does not use
// it: two ends may spell one address differently; see route.Prefer.)
func (p PeerID) Compare(q PeerID) int {
	if p.Key != "" && q.Key != "" {
		return strings.Compare(p.Key, q.Key)
	}
	return strings.Compare(p.String(), q.String())
}

// Fingerprint is a short printable digest of p's key: the first 8 bytes of
// its SHA-256, in hex. Empty when p has no key.
func (p PeerID) Fingerprint() string {
	if p.Key == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(p.Key))
	return hex.EncodeToString(sum[:8])
}

// ParsePeerID parses "name@host:port". The name must be 1..MaxNameLen bytes
// and hold no '@'; the port is written without leading zeros. For every
// valid p, ParsePeerID(p.String()) returns p (Key aside).
func ParsePeerID(s string) (PeerID, error) {
	i := strings.LastIndexByte(s, '@')
	if i < 0 {
		return PeerID{}, fmt.Errorf("%w: %q has no '@'", ErrBadPeerID, s)
	}
	p := PeerID{Name: s[:i], Addr: s[i+1:]}
	return p, p.Validate()
}

// MaxNameLen and MaxAddrLen bound the fields of a PeerID (they travel in a
// hello with one-byte lengths).
const (
	MaxNameLen = 255
	MaxAddrLen = 255
)

// Validate checks that p has a name and a host:port address with a non-zero
// port.
func (p PeerID) Validate() error {
	if err := ValidateName(p.Name); err != nil {
		return err
	}
	return ValidateAddr(p.Addr)
}

// ValidateName checks that name is 1..MaxNameLen bytes without '@'.
func ValidateName(name string) error {
	if name == "" || len(name) > MaxNameLen || strings.IndexByte(name, '@') >= 0 {
		return fmt.Errorf("%w: name %q must be 1..%d bytes without '@'", ErrBadPeerID, name, MaxNameLen)
	}
	return nil
}

// ValidateAddr checks that addr is host:port with a host and a port in
// 1..65535, and holds no '@', no '#', no space and no control byte: so that
// name@addr parses back into the same name and address, and the
// "#fingerprint" suffix of a pinned address (CutFingerprint) is unambiguous.
func ValidateAddr(addr string) error {
	if len(addr) > MaxAddrLen {
		return fmt.Errorf("%w: address longer than %d bytes", ErrBadPeerID, MaxAddrLen)
	}
	for i := 0; i < len(addr); i++ {
		if c := addr[i]; c == '@' || c == '#' || c <= ' ' || c == 0x7f {
			return fmt.Errorf("%w: address %q holds %q", ErrBadPeerID, addr, c)
		}
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadPeerID, err)
	}
	if host == "" {
		return fmt.Errorf("%w: address %q has no host", ErrBadPeerID, addr)
	}
	if len(port) > 1 && port[0] == '0' {
		return fmt.Errorf("%w: address %q has a port with leading zeros", ErrBadPeerID, addr)
	}
	n := 0
	for _, c := range port {
		if c < '0' || c > '9' {
			return fmt.Errorf("%w: address %q has a bad port", ErrBadPeerID, addr)
		}
		n = n*10 + int(c-'0')
		if n > 65535 {
			break
		}
	}
	if n < 1 || n > 65535 {
		return fmt.Errorf("%w: address %q has a bad port", ErrBadPeerID, addr)
	}
	return nil
}

// FingerprintLen is the length of a Fingerprint: 8 bytes in hex.
const FingerprintLen = 16

// Pinned returns "name@host:port#fingerprint": the form that, given to
// CutFingerprint (and to a secure node's AddRoute as "host:port#fingerprint"),
// pins p's key. Without a key it is p.String().
func (p PeerID) Pinned() string {
	if p.Key == "" {
		return p.String()
	}
	return p.String() + "#" + p.Fingerprint()
}

// CutFingerprint splits a key pin off an address or peer ID:
// "host:port#fingerprint" or "name@host:port#fingerprint" returns the part
// before '#' and the fingerprint (FingerprintLen hex digits, lower-cased). A
// string without a pin is returned as it is, with fingerprint "". A '#'
// before the last '@' belongs to the name, not to a pin. A malformed
// fingerprint is ErrBadPeerID. It does not validate the rest.
func CutFingerprint(s string) (rest, fingerprint string, err error) {
	i := strings.LastIndexByte(s, '#')
	if i < 0 || strings.IndexByte(s[i:], '@') >= 0 {
		return s, "", nil
	}
	fp := strings.ToLower(s[i+1:])
	if len(fp) != FingerprintLen {
		return "", "", fmt.Errorf("%w: fingerprint %q is not %d hex digits", ErrBadPeerID, s[i+1:], FingerprintLen)
	}
	if _, err := hex.DecodeString(fp); err != nil {
		return "", "", fmt.Errorf("%w: fingerprint %q is not %d hex digits", ErrBadPeerID, s[i+1:], FingerprintLen)
	}
	return s[:i], fp, nil
}
