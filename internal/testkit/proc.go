package testkit

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// builds holds the binaries Build made in this test process.
var builds struct {
	mu   sync.Mutex
	dir  string
	bins map[string]string // package directory to binary
}

// Build builds the main package in dir (relative to the test's working
// directory) once per test process and returns the binary's path; a later
// call for the same package, from any test, returns the same binary. Main
// removes the binaries when the tests end. Each first build costs a go
// build: seconds.
func Build(t testing.TB, dir string) string {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if bin, ok := builds.bins[abs]; ok {
		return bin
	}
	if builds.dir == "" {
		if builds.dir, err = os.MkdirTemp("", "antnet-testkit-"); err != nil {
			t.Fatal(err)
		}
		builds.bins = map[string]string{}
	}
	bin := filepath.Join(builds.dir, fmt.Sprint(len(builds.bins), "-", filepath.Base(abs)))
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = abs
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", dir, err, out)
	}
	builds.bins[abs] = bin
	return bin
}

// Main runs the tests, removes what Build built and exits with the tests'
// status: a test package that calls Build has
// func TestMain(m *testing.M) { testkit.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	builds.mu.Lock()
	if builds.dir != "" {
		_ = os.RemoveAll(builds.dir)
	}
	builds.mu.Unlock()
	os.Exit(code)
}

// Proc is a child process whose output the test reads line by line: every
// line it prints on standard output (and on standard error, unless the
// command's Stderr was set) is kept, with the time the test read it, so
// a test can wait for a line and look back at what came before. It holds
// every line in memory for the test's life, and exec runs one goroutine per
// captured stream plus the one that waits for the exit.
type Proc struct {
	Cmd   *exec.Cmd
	name  string
	stdin io.WriteCloser

	exited  chan struct{} // closed when Wait returned
	waitErr error         // Wait's, set before exited closes

	mu    sync.Mutex
	lines []Line
	part  []byte        // an unfinished line
	more  chan struct{} // closed when a line arrives or the process ends
	done  bool
	next  int // where Await looks first
}

// Line is one line of a Proc's output.
type Line struct {
	At   time.Time // when the test read it
	Text string    // without the newline
	I    int       // its index: Find from I+1 looks past it
}

// StartProc starts cmd as a child process named name in failure messages.
// At t's cleanup the process is killed and waited for; if t failed, it is
// first sent SIGQUIT (up to 2s to exit), so that a Go program prints its
// goroutines into the output.
func StartProc(t testing.TB, name string, cmd *exec.Cmd) *Proc {
	t.Helper()
	p := &Proc{Cmd: cmd, name: name, exited: make(chan struct{}), more: make(chan struct{})}
	cmd.Stdout = p
	if cmd.Stderr == nil {
		cmd.Stderr = p
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.stdin = in
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.waitErr = err
		p.done = true
		close(p.more)
		p.mu.Unlock()
		close(p.exited)
	}()
	t.Cleanup(func() {
		if t.Failed() {
			_ = cmd.Process.Signal(syscall.SIGQUIT)
			select {
			case <-p.exited:
			case <-time.After(2 * time.Second):
			}
		}
		_ = cmd.Process.Kill()
		<-p.exited
	})
	return p
}

// Write takes the process's output (exec copies it here).
func (p *Proc) Write(b []byte) (int, error) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.part = append(p.part, b...)
	for {
		i := bytes.IndexByte(p.part, '\n')
		if i < 0 {
			break
		}
		p.lines = append(p.lines, Line{At: now, Text: string(p.part[:i]), I: len(p.lines)})
		p.part = p.part[i+1:]
	}
	if len(p.lines) > 0 && !p.done {
		close(p.more)
		p.more = make(chan struct{})
	}
	return len(b), nil
}

// Say writes line and a newline to the process's standard input.
func (p *Proc) Say(t testing.TB, line string) {
	t.Helper()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		t.Fatalf("%s: %q: %v", p.name, line, err)
	}
}

// CloseInput closes the process's standard input: a child that reads it
// to the end exits then.
func (p *Proc) CloseInput() error { return p.stdin.Close() }

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) error { return p.Cmd.Process.Signal(sig) }

// Wait waits for the process to exit and returns what exec.Cmd.Wait did.
func (p *Proc) Wait() error {
	<-p.exited
	return p.waitErr
}

// Mark is the index the next line will have.
func (p *Proc) Mark() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.lines)
}

// Find returns the first line from index from on that contains want,
// waiting up to d for it; it fails t if none comes in time or the process
// ends first.
func (p *Proc) Find(t testing.TB, from int, d time.Duration, want string) Line {
	t.Helper()
	timeout := time.After(d)
	for {
		p.mu.Lock()
		for ; from < len(p.lines); from++ {
			if strings.Contains(p.lines[from].Text, want) {
				l := p.lines[from]
				p.mu.Unlock()
				return l
			}
		}
		done, more := p.done, p.more
		p.mu.Unlock()
		if done {
			t.Fatalf("%s: output ended before %q", p.name, want)
		}
		select {
		case <-more:
		case <-timeout:
			t.Fatalf("%s: no %q within %v", p.name, want, d)
		}
	}
}

// Await reads the output as a stream: it returns the text of the first
// line containing want after the line the previous Await returned (from
// the start, the first time), waiting up to d for it as Find does.
func (p *Proc) Await(t testing.TB, d time.Duration, want string) string {
	t.Helper()
	p.mu.Lock()
	from := p.next
	p.mu.Unlock()
	l := p.Find(t, from, d, want)
	p.mu.Lock()
	p.next = l.I + 1
	p.mu.Unlock()
	return l.Text
}

// Between returns the text of lines [from, to).
func (p *Proc) Between(from, to int) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, to-from)
	for _, l := range p.lines[from:to] {
		out = append(out, l.Text)
	}
	return out
}

// Dump returns every line so far, joined by newlines: for a failure
// message.
func (p *Proc) Dump() string { return strings.Join(p.Between(0, p.Mark()), "\n") }
