package secure

import (
	"fmt"
	"runtime"

	"github.com/flynn/noise"
	"golang.org/x/sys/cpu"
)

// Cipher names a Noise suite a secure link runs. Its value is the byte that
// names it on the wire: in the dialer's cipher list and in the flags of the
// acceptor's answer.
type Cipher uint8

const (
	// ChaChaPoly is Noise_XX_25519_ChaChaPoly_BLAKE2s: every antnet node
	// runs it, and it is the fast one without AES hardware.
	ChaChaPoly Cipher = 1
	// AESGCM is Noise_XX_25519_AESGCM_SHA256: about twice ChaChaPoly's
	// speed where the CPU has AES and carry-less multiply instructions.
	AESGCM Cipher = 2
)

var (
	chachaSuite = noise.NewCipherSuite(noise.DH25519, noise.CipherChaChaPoly, noise.HashBLAKE2s)
	aesSuite    = noise.NewCipherSuite(noise.DH25519, noise.CipherAESGCM, noise.HashSHA256)
)

// String returns the suite's Noise protocol name.
func (c Cipher) String() string {
	if !c.known() {
		return fmt.Sprintf("cipher(%d)", uint8(c))
	}
	return "Noise_XX_" + string(c.suite().Name())
}

func (c Cipher) known() bool { return c == ChaChaPoly || c == AESGCM }

func (c Cipher) suite() noise.CipherSuite {
	if c == AESGCM {
		return aesSuite
	}
	return chachaSuite
}

// hardwareAES is whether AES-GCM runs on dedicated instructions here, by
// the test crypto/tls uses to order its suites.
var hardwareAES = cpu.X86.HasAES && cpu.X86.HasPCLMULQDQ ||
	cpu.ARM64.HasAES && cpu.ARM64.HasPMULL ||
	cpu.S390X.HasAES && cpu.S390X.HasAESCTR && cpu.S390X.HasGHASH ||
	runtime.GOARCH == "ppc64" || runtime.GOARCH == "ppc64le"

// HardwareAES reports whether this machine has AES-GCM in hardware (amd64:
// AES-NI and PCLMULQDQ; arm64: AES and PMULL; s390x; ppc64).
func HardwareAES() bool { return hardwareAES }

// DefaultCiphers returns the suites this machine runs, best first:
// AESGCM then ChaChaPoly with AES hardware, ChaChaPoly alone without. Each
// call returns a new slice.
func DefaultCiphers() []Cipher {
	if hardwareAES {
		return []Cipher{AESGCM, ChaChaPoly}
	}
	return []Cipher{ChaChaPoly}
}
