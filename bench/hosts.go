package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/antnet-p2p/antnet/engine"
	"github.com/antnet-p2p/antnet/proto"
)

// short-hosts: short requests between two hosts, as two network namespaces
// on one veth pair, so that neither end is loopback (where Linux reuses a
// dialer's TIME_WAIT ports by default, tcp_tw_reuse=2). Whichever end
// closes a connection first keeps its TIME_WAIT for a minute; a dialer
// that keeps them runs out of ephemeral ports (about 28,000 by default)
// and its connects fail with EADDRNOTAVAIL. The original pattern's caller
// closes first; antnet's acceptor does.

const hostsDescription = "G callers in one network namespace dialing a server in another over a veth pair " +
	"(server 10.79.0.1, client 10.79.0.2; each in a child process started with ip netns exec), " +
	"as fast as they can for -hosts-duration: pair=original is the original design's short router on both sides " +
	"(the caller closes after reading the answer), pair=node→node antnet short mode on both sides " +
	"(the acceptor closes first). Counted: requests answered, dial errors (EADDRNOTAVAIL: no free ephemeral port), " +
	"other errors, and TIME_WAIT sockets in each namespace at the end. Needs root and ip (iproute2): " +
	"skipped otherwise; runs only when named in -only"

// hostsNet is the namespaces' addressing.
const (
	hostsServerIP = "10.79.0.1"
	hostsClientIP = "10.79.0.2"
)

// hostsCases: the original pattern and antnet, the callers of -callers
// (default 16).
func hostsCases(cfg *config) []caseSpec {
	var cs []caseSpec
	for _, g := range pick(cfg.callers, []int{16}, []int{16}, cfg) {
		for _, s := range pick(cfg.payload, []int{128}, []int{128}, cfg) {
			group := params{{"callers", g}, {"payload", s}, {"seconds", cfg.hostsDuration.Seconds()}}.String()
			for _, impl := range []string{implGoroutine, implAntnet} {
				pair := "node→node"
				if impl == implGoroutine {
					pair = "original"
				}
				spec := hostsSpec{Impl: impl, Callers: g, Payload: s, Duration: cfg.hostsDuration}
				cs = append(cs, caseSpec{scenario: "short-hosts", impl: impl, group: group,
					params: params{{"callers", g}, {"payload", s}, {"pair", pair}, {"seconds", cfg.hostsDuration.Seconds()}},
					run:    func(r *Result) error { return hostsRun(spec, r) }})
			}
		}
	}
	return cs
}

// hostsSpec is what the parent hands both children.
type hostsSpec struct {
	Impl     string        `json:"impl"`
	Addr     string        `json:"addr"` // server: where to listen; client: where to call
	Callers  int           `json:"callers"`
	Payload  int           `json:"payload"`
	Duration time.Duration `json:"duration"`
}

// hostsFigures is a short-hosts row's counts.
type hostsFigures struct {
	Answered       int64  `json:"answered"`
	DialErrors     int64  `json:"dial_errors"`  // EADDRNOTAVAIL
	OtherErrors    int64  `json:"other_errors"` // any other failed call
	FirstError     string `json:"first_error,omitempty"`
	TimeWaitClient int    `json:"time_wait_client"`
	TimeWaitServer int    `json:"time_wait_server"`
}

// hostsUsable says why the scenario cannot run here, or "".
func hostsUsable() string {
	if runtime.GOOS != "linux" {
		return "network namespaces are Linux only"
	}
	if os.Geteuid() != 0 {
		return "needs root to make network namespaces and a veth pair (sudo go run ./bench -only short-hosts)"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "needs ip (iproute2) in PATH"
	}
	return ""
}

// hostsRun makes the two namespaces, runs the server and the client in
// them, and deletes them.
func hostsRun(spec hostsSpec, r *Result) error {
	if why := hostsUsable(); why != "" {
		r.addNote("skipped: " + why)
		return nil
	}
	srvNS, cliNS, err := hostsNetUp()
	if err != nil {
		r.addNote("skipped: " + err.Error())
		return nil
	}
	defer hostsNetDown(srvNS, cliNS)
	limit := spec.Duration + time.Minute
	srvSpec := spec
	srvSpec.Addr = hostsServerIP + ":0"
	srv, err := startChildIn(srvNS, "hosts-server", srvSpec, limit)
	if err != nil {
		return err
	}
	defer srv.wait()
	var addr struct{ Addr string }
	if err := srv.expect("addr", &addr); err != nil {
		return err
	}
	cliSpec := spec
	cliSpec.Addr = addr.Addr
	cli, err := startChildIn(cliNS, "hosts-client", cliSpec, limit)
	if err != nil {
		return err
	}
	defer cli.wait()
	var f hostsFigures
	if err := cli.expect("result", &f); err != nil {
		return err
	}
	var tw struct{ N int }
	if err := srv.tell("tw"); err != nil {
		return err
	}
	if err := srv.expect("tw", &tw); err != nil {
		return err
	}
	f.TimeWaitServer = tw.N
	r.Hosts = &f
	r.Ops = f.Answered
	r.Seconds = spec.Duration.Seconds()
	r.OpsPerSec = float64(f.Answered) / r.Seconds
	if f.FirstError != "" {
		r.addNote("first error: " + f.FirstError)
	}
	return nil
}

// hostsNetUp makes the server's and the client's namespaces, joined by a
// veth pair. Names carry this process's id.
func hostsNetUp() (srvNS, cliNS string, err error) {
	pid := os.Getpid()
	srvNS, cliNS = fmt.Sprintf("antnet-bench%d-srv", pid), fmt.Sprintf("antnet-bench%d-cli", pid)
	srvIf, cliIf := fmt.Sprintf("ab%ds", pid), fmt.Sprintf("ab%dc", pid)
	hostsNetDown(srvNS, cliNS)
	steps := [][]string{
		{"netns", "add", srvNS},
		{"netns", "add", cliNS},
		{"link", "add", srvIf, "netns", srvNS, "type", "veth", "peer", "name", cliIf, "netns", cliNS},
		{"-n", srvNS, "addr", "add", hostsServerIP + "/24", "dev", srvIf},
		{"-n", cliNS, "addr", "add", hostsClientIP + "/24", "dev", cliIf},
		{"-n", srvNS, "link", "set", srvIf, "up"},
		{"-n", cliNS, "link", "set", cliIf, "up"},
		{"-n", srvNS, "link", "set", "lo", "up"},
		{"-n", cliNS, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if out, err := exec.Command("ip", s...).CombinedOutput(); err != nil {
			hostsNetDown(srvNS, cliNS)
			return "", "", fmt.Errorf("ip %s: %v %s", strings.Join(s, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return srvNS, cliNS, nil
}

// hostsNetDown deletes the namespaces (the veth pair goes with them).
func hostsNetDown(names ...string) {
	for _, ns := range names {
		_ = exec.Command("ip", "netns", "del", ns).Run()
	}
}

// hostsServerChild listens at spec.Addr (impl's short server), says
// "addr", and answers "tw" with its namespace's TIME_WAIT count until its
// stdin ends.
func hostsServerChild(b []byte, say func(string, any), in *bufio.Scanner) error {
	var spec hostsSpec
	if err := json.Unmarshal(b, &spec); err != nil {
		return err
	}
	var addr string
	switch spec.Impl {
	case implGoroutine:
		s, err := startOrigServer(spec.Addr)
		if err != nil {
			return err
		}
		defer s.Close()
		addr = s.Addr()
	default:
		n, err := startShortNode("server", spec.Addr, echo)
		if err != nil {
			return err
		}
		defer n.Close()
		addr = n.Addr()
	}
	say("addr", struct{ Addr string }{addr})
	for in.Scan() {
		if in.Text() == "tw" {
			say("tw", struct{ N int }{timeWaitCount()})
		}
	}
	return nil
}

// hostsClientChild calls spec.Addr from spec.Callers goroutines for
// spec.Duration and says "result": answers, errors by kind, and its
// namespace's TIME_WAIT count.
func hostsClientChild(b []byte, say func(string, any), _ *bufio.Scanner) error {
	var spec hostsSpec
	if err := json.Unmarshal(b, &spec); err != nil {
		return err
	}
	mk := func() caller { return &origCaller{addr: spec.Addr} }
	if spec.Impl != implGoroutine {
		n, err := startShortNode("client", hostsClientIP+":0", nil)
		if err != nil {
			return err
		}
		defer n.Close()
		if err := n.AddRoute("server", spec.Addr); err != nil {
			return err
		}
		mk = func() caller { return &nodeCaller{n: n, peer: "server"} }
	}
	msg := make([]byte, spec.Payload)
	var (
		answered, dialErrs, otherErrs atomic.Int64
		firstErr                      atomic.Value
		wg                            sync.WaitGroup
	)
	ctx, cancel := context.WithTimeout(context.Background(), spec.Duration)
	defer cancel()
	for range spec.Callers {
		c := mk()
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, spec.Payload)
			for ctx.Err() == nil {
				reply, err := c.call(msg, buf[:0])
				switch {
				case err == nil && len(reply) == len(msg):
					answered.Add(1)
				case errors.Is(err, syscall.EADDRNOTAVAIL):
					dialErrs.Add(1)
				default:
					if err == nil {
						err = fmt.Errorf("reply of %d bytes, want %d", len(reply), len(msg))
					}
					otherErrs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	wg.Wait()
	f := hostsFigures{Answered: answered.Load(), DialErrors: dialErrs.Load(), OtherErrors: otherErrs.Load(), TimeWaitClient: timeWaitCount()}
	if s, ok := firstErr.Load().(string); ok {
		f.FirstError = s
	}
	say("result", &f)
	return nil
}

// timeWaitCount counts the TIME_WAIT sockets of this process's network
// namespace (/proc/net/tcp and tcp6, state 06).
func timeWaitCount() int {
	n := 0
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(file)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if fields := strings.Fields(sc.Text()); len(fields) > 3 && fields[3] == "06" {
				n++
			}
		}
		_ = f.Close()
	}
	return n
}

// hostsText is the figures column of a short-hosts row.
func hostsText(f *hostsFigures) string {
	return fmt.Sprintf("answered %d, dial errors (EADDRNOTAVAIL) %d, other errors %d, TIME_WAIT client %d server %d",
		f.Answered, f.DialErrors, f.OtherErrors, f.TimeWaitClient, f.TimeWaitServer)
}

// startShortNode starts a short-mode node listening at addr.
func startShortNode(name, addr string, h proto.Handler) (*engine.Node, error) {
	n, err := engine.New(name, addr, h, engine.WithMode(engine.Short), engine.WithEventLoops(runtime.GOMAXPROCS(0)))
	if err != nil {
		return nil, err
	}
	if err := n.Start(); err != nil {
		return nil, err
	}
	return n, nil
}
