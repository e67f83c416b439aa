package canary

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// TestCanary: a canary carries nothing while the set keeps its other end
// (a read waits until its deadline), and sees EOF once the set closes.
func TestCanary(t *testing.T) {
	var s Set
	var canaries []net.Conn
	for range 2 {
		c, err := s.Add()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		canaries = append(canaries, c)
	}
	if len(s.kept) != 2 {
		t.Fatalf("two canaries keep %d ends", len(s.kept))
	}
	var one [1]byte
	_ = canaries[0].SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	var timeout net.Error
	if n, err := canaries[0].Read(one[:]); !errors.As(err, &timeout) || !timeout.Timeout() {
		t.Fatalf("a canary read %d bytes, err %v; want the deadline", n, err)
	}
	s.Close()
	for i, c := range canaries {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if n, err := c.Read(one[:]); err != io.EOF {
			t.Fatalf("canary %d after Close: read %d bytes, err %v; want EOF", i, n, err)
		}
	}
}
