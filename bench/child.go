package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// The one child-process protocol. A child is this binary re-executed with
// -child '{"kind": K, "spec": {...}}'; it speaks in lines on stdout, each an
// event name and, after a space, an optional JSON body, and reads lines on
// stdin. At EOF on stdin it finishes and exits. Kinds: "load" (the reqrep
// load generator, -client proc), "idle" (the idle scenario's peers), "row"
// (one row of -fresh).

type childArg struct {
	Kind string          `json:"kind"`
	Spec json.RawMessage `json:"spec"`
}

// childMains are the children's mains: spec is the parent's, say writes one
// line to the parent, in reads the parent's lines.
var childMains = map[string]func(spec []byte, say func(event string, v any), in *bufio.Scanner) error{
	"load": loadChild,
	"idle": idleChild,
	"row":  rowChild,

	"hosts-server": hostsServerChild,
	"hosts-client": hostsClientChild,
}

// childMain runs this process as the child described by arg.
func childMain(arg string) {
	var a childArg
	if err := json.Unmarshal([]byte(arg), &a); err != nil {
		fatalf("child: %v", err)
	}
	run, ok := childMains[a.Kind]
	if !ok {
		fatalf("child: unknown kind %q", a.Kind)
	}
	raiseNoFile()
	out := bufio.NewWriter(os.Stdout)
	say := func(event string, v any) {
		out.WriteString(event)
		if v != nil {
			b, _ := json.Marshal(v)
			out.WriteByte(' ')
			out.Write(b)
		}
		out.WriteByte('\n')
		out.Flush()
	}
	if err := run(a.Spec, say, bufio.NewScanner(os.Stdin)); err != nil {
		fatalf("%s child: %v", a.Kind, err)
	}
}

// child is the parent's handle on a running child.
type child struct {
	kind  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
	timer *time.Timer
	done  bool
}

// startChild starts a child of kind with spec; it is killed after limit
// whatever happens, so no child outlives its row.
func startChild(kind string, spec any, limit time.Duration) (*child, error) {
	return startChildIn("", kind, spec, limit)
}

// startChildIn is startChild in the network namespace ns (ip netns exec),
// or in this one for "".
func startChildIn(ns, kind string, spec any, limit time.Duration) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	s, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	arg, _ := json.Marshal(childArg{Kind: kind, Spec: s})
	cmd := exec.Command(exe, "-child", string(arg))
	if ns != "" {
		cmd = exec.Command("ip", "netns", "exec", ns, exe, "-child", string(arg))
	}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{kind: kind, cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
	c.out.Buffer(make([]byte, 64<<10), 16<<20)
	c.timer = time.AfterFunc(limit, func() { _ = cmd.Process.Kill() })
	return c, nil
}

// next reads the child's next line: its event and JSON body.
func (c *child) next() (event string, body []byte, err error) {
	if !c.out.Scan() {
		if err := c.out.Err(); err != nil {
			return "", nil, fmt.Errorf("%s child: %w", c.kind, err)
		}
		return "", nil, fmt.Errorf("%s child: exited early", c.kind)
	}
	event, rest, _ := strings.Cut(c.out.Text(), " ")
	return event, []byte(rest), nil
}

// expect reads the next line, which must be event, into v.
func (c *child) expect(event string, v any) error {
	ev, body, err := c.next()
	if err != nil {
		return err
	}
	if ev != event {
		return fmt.Errorf("%s child: got %q, want %q", c.kind, ev, event)
	}
	return json.Unmarshal(body, v)
}

// tell writes one line to the child.
func (c *child) tell(line string) error {
	_, err := io.WriteString(c.stdin, line+"\n")
	return err
}

// wait closes the child's stdin, reads what it still says and waits for it
// to exit. It is safe to call more than once.
func (c *child) wait() error {
	if c.done {
		return nil
	}
	c.done = true
	defer c.timer.Stop()
	c.stdin.Close()
	for c.out.Scan() {
	}
	if err := c.cmd.Wait(); err != nil {
		return fmt.Errorf("%s child: %w", c.kind, err)
	}
	return nil
}
