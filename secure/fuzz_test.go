package secure

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"golang.org/x/crypto/curve25519"
)

// cipherLists are the lists a node may run (DefaultCiphers on either kind
// of machine, and an end that prefers ChaChaPoly); fuzz inputs pick one by
// index.
var cipherLists = [][]Cipher{aesAndChaCha, chachaOnly, {ChaChaPoly, AESGCM}}

// lowOrder reports whether X25519 with the public key pub gives the
// all-zero secret, which Noise (through curve25519.X25519) refuses.
func lowOrder(pub []byte) bool {
	priv := bytes.Repeat([]byte{0x42}, KeySize)
	_, err := curve25519.X25519(priv, pub)
	return err != nil
}

// Invariant of the acceptor's reading of the first Noise message (the
// dialer's ephemeral key, then its cipher list): it answers iff the
// message holds a 32-byte key that is not of low order followed by a list
// of at most 16 bytes naming a suite the acceptor runs (an empty list
// names ChaChaPoly), and then picks the first suite of its own list that
// the dialer named and replies with its 96-byte second message; otherwise
// the error matches ErrHandshake. No session exists after one message.
func FuzzHandshakeOffer(f *testing.F) {
	for i, l := range cipherLists {
		d, err := NewHandshakeCiphers(mustGenerate(f), true, l)
		if err != nil {
			f.Fatal(err)
		}
		m1, err := d.Start()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(m1, uint8(i))
		f.Add(m1[:32], uint8(i))
		f.Add(append(bytes.Clone(m1), bytes.Repeat([]byte{3}, maxOffer)...), uint8(i))
	}
	f.Add(make([]byte, 33), uint8(0)) // the zero point, offering cipher 0
	f.Add([]byte{1, 2, 3}, uint8(1))
	acceptor := mustGenerate(f)
	f.Fuzz(func(t *testing.T, msg1 []byte, list uint8) {
		ours := cipherLists[int(list)%len(cipherLists)]
		h, err := NewHandshakeCiphers(acceptor, false, ours)
		if err != nil {
			t.Fatal(err)
		}
		var want Cipher
		if len(msg1) >= 32 && len(msg1)-32 <= maxOffer && !lowOrder(msg1[:32]) {
			offer := msg1[32:]
			if len(offer) == 0 {
				offer = []byte{byte(ChaChaPoly)}
			}
			for _, c := range ours {
				if slices.Contains(offer, byte(c)) {
					want = c
					break
				}
			}
		}
		reply, s, err := h.Read(Cipher(list), msg1) // the acceptor ignores named
		if s != nil {
			t.Fatal("a session after the first message")
		}
		if want == 0 {
			if !errors.Is(err, ErrHandshake) {
				t.Fatalf("first message %x (acceptor runs %v): err %v, want ErrHandshake", msg1, ours, err)
			}
			return
		}
		if err != nil || len(reply) != 32+KeySize+16+16 || h.Cipher() != want {
			t.Fatalf("first message %x (acceptor runs %v): reply of %d bytes, cipher %v, err %v; want %v",
				msg1, ours, len(reply), h.Cipher(), err, want)
		}
	})
}

func mustGenerate(t testing.TB) *Identity {
	t.Helper()
	id, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// alter returns msg XORed with edit over their common length, with the
// rest of a longer edit appended, then cut bytes shorter.
func alter(msg, edit []byte, cut uint8) []byte {
	out := bytes.Clone(msg)
	for i := range min(len(out), len(edit)) {
		out[i] ^= edit[i]
	}
	if len(edit) > len(out) {
		out = append(out, edit[len(out):]...)
	}
	return out[:len(out)-min(int(cut), len(out))]
}

// Invariant of a whole Noise XX handshake between a real dialer and
// acceptor, with one of its three messages (stage 1..3; 0: none) altered
// by the fuzzer and the cipher the acceptor names in its answer's flags
// XORed with named: both ends get a session iff nothing was altered (a
// named cipher of 0 reads as ChaChaPoly, so it alters nothing when that is
// the choice); then each session authenticates the other's static key,
// both run the same suite, and a frame sealed by either end opens at the
// other. Every failure on either end matches ErrHandshake.
func FuzzHandshakeMessages(f *testing.F) {
	for stage := range uint8(4) {
		f.Add(stage, uint8(0), uint8(0), []byte{}, uint8(0))
		f.Add(stage, uint8(1), uint8(3), []byte{0, 0, 0, 1}, uint8(0))
		f.Add(stage, uint8(0), uint8(0), []byte{}, uint8(1))
	}
	f.Add(uint8(0), uint8(2), uint8(0), []byte{}, uint8(0))
	dialerID, acceptorID := mustGenerate(f), mustGenerate(f)
	f.Fuzz(func(t *testing.T, stage, named, lists uint8, edit []byte, cut uint8) {
		stage %= 4
		d, err := NewHandshakeCiphers(dialerID, true, cipherLists[int(lists)%3])
		if err != nil {
			t.Fatal(err)
		}
		a, err := NewHandshakeCiphers(acceptorID, false, cipherLists[int(lists)/3%3])
		if err != nil {
			t.Fatal(err)
		}
		altered := false
		deliver := func(k uint8, msg []byte) []byte {
			if stage != k {
				return msg
			}
			out := alter(msg, edit, cut)
			altered = altered || !bytes.Equal(out, msg)
			return out
		}
		fail := func(where string, err error) {
			if !errors.Is(err, ErrHandshake) {
				t.Fatalf("%s: %v, want ErrHandshake", where, err)
			}
			if !altered {
				t.Fatalf("%s failed on an unaltered handshake: %v", where, err)
			}
		}
		m1, err := d.Start()
		if err != nil {
			t.Fatal(err)
		}
		m2, sa, err := a.Read(0, deliver(1, m1))
		if err != nil || sa != nil {
			fail("acceptor, message 1", err)
			return
		}
		choice := a.Cipher()
		flags := Cipher(uint8(choice) ^ named)
		if flags != choice && !(flags == 0 && choice == ChaChaPoly) {
			altered = true
		}
		m3, sd, err := d.Read(flags, deliver(2, m2))
		if err != nil || sd == nil {
			fail("dialer, message 2", err)
			return
		}
		none, sa, err := a.Read(0, deliver(3, m3))
		if err != nil || sa == nil || none != nil {
			fail("acceptor, message 3", err)
			return
		}
		if altered {
			t.Fatalf("handshake completed with stage %d altered (edit %x, cut %d, named ^%d)", stage, edit, cut, named)
		}
		if !bytes.Equal(sd.Peer, acceptorID.Public()) || !bytes.Equal(sa.Peer, dialerID.Public()) || sd.Cipher != sa.Cipher || sd.Cipher != choice {
			t.Fatalf("sessions: dialer sees %x on %v, acceptor sees %x on %v (choice %v)", sd.Peer, sd.Cipher, sa.Peer, sa.Cipher, choice)
		}
		sealsBothWays(t, sd, sa, edit)
	})
}
