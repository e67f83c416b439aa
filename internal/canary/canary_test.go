package canary

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// TestCanary: a canary carries nothing while the set keeps its other end
// (a read waits until its deadline), and sees EOF once the set closes.
func TestCanary(t *testing.T) {
	var s Set
	a, err := s.Add()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := s.Add()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if len(s.kept) != 2 {
		t.Fatalf("two canaries keep %d ends", len(s.kept))
	}
	var one [1]byte
	_ = a.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if n, err := a.Read(one[:]); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a canary read %d bytes, err %v; want the deadline", n, err)
	}
	s.Close()
	for i, c := range []net.Conn{a, b} {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if n, err := c.Read(one[:]); err != io.EOF {
			t.Fatalf("canary %d after Close: read %d bytes, err %v; want EOF", i, n, err)
		}
	}
}
