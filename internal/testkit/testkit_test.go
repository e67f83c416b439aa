package testkit

import (
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestPollWaitsForTheCondition(t *testing.T) {
	var calls atomic.Int32
	if !Poll(time.Second, time.Millisecond, func() bool { return calls.Add(1) == 3 }) {
		t.Fatal("Poll gave up on a condition that held at the third call")
	}
	if n := calls.Load(); n != 3 {
		t.Fatalf("cond called %d times, want 3", n)
	}
}

func TestPollGivesUpAtTheDeadline(t *testing.T) {
	start := time.Now()
	if Poll(50*time.Millisecond, 5*time.Millisecond, func() bool { return false }) {
		t.Fatal("Poll reported a condition that never held")
	}
	if took := time.Since(start); took < 50*time.Millisecond {
		t.Fatalf("Poll gave up after %v, before its 50ms", took)
	}
}

func TestEventuallyFailsOnTimeout(t *testing.T) {
	ft := &fakeT{TB: t}
	Eventually(ft, 20*time.Millisecond, "nothing", func() bool { return false })
	if !strings.Contains(ft.fatal, "timed out after 20ms waiting for nothing") {
		t.Fatalf("failure message %q", ft.fatal)
	}
	ft = &fakeT{TB: t}
	Eventually(ft, time.Second, "something", func() bool { return true })
	if ft.fatal != "" {
		t.Fatalf("failed on a condition that held: %q", ft.fatal)
	}
}

// fakeT records a Fatalf instead of ending the test (Eventually returns
// after it, which is all these tests need).
type fakeT struct {
	testing.TB
	fatal string
}

func (f *fakeT) Helper()                           {}
func (f *fakeT) Fatalf(format string, args ...any) { f.fatal = fmt.Sprintf(format, args...) }

func TestFreeAddrCanBeListenedOn(t *testing.T) {
	addr := FreeAddr(t)
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("FreeAddr = %q, want loopback", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = ln.Close()
}

type service struct{ started, closed int }

func (s *service) Start() error { s.started++; return nil }
func (s *service) Close() error { s.closed++; return nil }

func TestStartedStartsAndClosesAtCleanup(t *testing.T) {
	s := &service{}
	t.Run("inner", func(t *testing.T) {
		if got := Started(t, s, nil); got != s || s.started != 1 || s.closed != 0 {
			t.Fatalf("after Started: %+v", s)
		}
	})
	if s.closed != 1 {
		t.Fatalf("after the test's cleanup: %+v, want closed once", s)
	}
}

func TestProcLines(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	p := StartProc(t, "sh", exec.Command("sh", "-c", `echo one; echo two >&2; read x; echo "got $x"; echo one again; cat`))
	first := p.Find(t, 0, 5*time.Second, "one")
	if first.Text != "one" || first.I != 0 {
		t.Fatalf("first line %+v", first)
	}
	p.Find(t, 0, 5*time.Second, "two") // standard error is kept too
	p.Say(t, "hello")
	if got := p.Await(t, 5*time.Second, "got"); got != "got hello" {
		t.Fatalf("Await = %q", got)
	}
	if got := p.Await(t, 5*time.Second, "one"); got != "one again" {
		t.Fatalf("Await after got = %q, want the line after it", got)
	}
	if err := p.CloseInput(); err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if d := p.Dump(); !strings.Contains(d, "got hello") || p.Mark() != 4 {
		t.Fatalf("Dump %q, Mark %d", d, p.Mark())
	}
	var exit *exec.ExitError
	q := StartProc(t, "false", exec.Command("sh", "-c", "exit 3"))
	if err := q.Wait(); !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("Wait = %v, want exit status 3", err)
	}
}
