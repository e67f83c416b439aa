package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/engine"
	"github.com/antnet-p2p/antnet/secure"
)

// syncBuffer is a strings.Builder safe for the peers' concurrent prints.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestScriptedSession(t *testing.T) {
	var out syncBuffer
	if err := demo(&out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{
		"[luda] yoghurt@",
		"[yoghurt] luda says: hello there",
		"[luda] yoghurt answered: yoghurt got it",
		"[kefir] yoghurt answered: yoghurt got it",
		"[luda] yoghurt says: who is around?",
		"[yoghurt] broadcast from luda: news travels hop by hop",
		"[kefir] broadcast from luda: news travels hop by hop",
		"[kefir] stats: peers=1",
		"[yoghurt] kefir@",
		"demo done",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("missing %q in:\n%s", want, out.String())
		}
	}
	if !regexp.MustCompile(`\[kefir\] stats: .* loop stalls=0\n`).MatchString(out.String()) {
		t.Errorf("kefir's stats do not show its loop stalls:\n%s", out.String())
	}
	if c := strings.Count(out.String(), "broadcast from luda"); c != 2 {
		t.Errorf("broadcast delivered %d times, want 2 (yoghurt and kefir)", c)
	}
}

func TestCommands(t *testing.T) {
	var out syncBuffer
	a, err := newPeer("a", "127.0.0.1:0", engine.Short, &out)
	if err != nil {
		t.Fatal(err)
	}
	defer a.node.Close()
	b, err := newPeer("b", "127.0.0.1:0", engine.Short, &out)
	if err != nil {
		t.Fatal(err)
	}
	defer b.node.Close()
	for _, line := range []string{"add " + b.node.ID().String(), "send b short hello", "add nonsense", "frobnicate", "help"} {
		if a.exec(line) {
			t.Fatalf("%q quit", line)
		}
	}
	if !a.exec("quit") {
		t.Fatal("quit did not quit")
	}
	for _, want := range []string{"[b] a says: short hello", "[a] b answered: b got it", "add nonsense:", `unknown command "frobnicate"`, "broadcast TEXT"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("missing %q in:\n%s", want, out.String())
		}
	}
	if _, err := parseMode("bogus"); err == nil {
		t.Fatal("bogus mode accepted")
	}
}

func TestSecurePeers(t *testing.T) {
	var out syncBuffer
	ka, _ := secure.LoadOrCreate(filepath.Join(t.TempDir(), "a.key"))
	kb, _ := secure.LoadOrCreate(filepath.Join(t.TempDir(), "b.key"))
	a, err := newPeer("a", "127.0.0.1:0", engine.Persistent, &out, engine.WithIdentity(ka))
	if err != nil {
		t.Fatal(err)
	}
	defer a.node.Close()
	b, err := newPeer("b", "127.0.0.1:0", engine.Persistent, &out, engine.WithIdentity(kb))
	if err != nil {
		t.Fatal(err)
	}
	defer b.node.Close()
	a.exec("add " + b.node.ID().String())
	a.exec("send b sealed")
	a.exec("peers")
	for _, want := range []string{"[b] a says: sealed", "key " + b.node.ID().Fingerprint(), "[a] PEER  "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("missing %q in:\n%s", want, out.String())
		}
	}
	// The peers table: b's row says linked, dialed by a, and counts bytes.
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(l, "[a] "+b.node.ID().String()) && !strings.Contains(l, " joined") {
			f := strings.Fields(l)
			if len(f) < 12 || f[4] != "linked" || f[5] != "out" || f[8] == "0" || f[10] == "0" {
				t.Fatalf("peers row %q: want linked, out, bytes in and out", l)
			}
			return
		}
	}
	t.Fatalf("no peers row for b in:\n%s", out.String())
}

// proc is a peer process whose output lines arrive on a channel.
type proc struct {
	cmd   *exec.Cmd
	lines chan string
	stdin io.WriteCloser
}

func startProc(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, lines: make(chan string, 256), stdin: in}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return p
}

// await returns the first line containing want within d.
func (p *proc) await(t *testing.T, d time.Duration, want string) string {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("output ended before %q", want)
			}
			if strings.Contains(l, want) {
				return l
			}
		case <-timeout:
			t.Fatalf("no %q within %v", want, d)
		}
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// buildPeer builds the example into a temporary directory and returns the
// binary's path; with -short the test is skipped instead.
func buildPeer(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the example as processes")
	}
	bin := filepath.Join(t.TempDir(), "peer")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// Three peer processes; SIGTERM (or SIGINT in -i mode) makes one leave
// gracefully: it exits 0 and the others see it leave at once, long before
// any timeout could tell them.
func TestProcessesLeaveOnSignal(t *testing.T) {
	bin := buildPeer(t)
	pa, pb, pc := freePort(t), freePort(t), freePort(t)
	a := startProc(t, bin, "-name", "luda", "-listen", "127.0.0.1:"+pa, "-log", "warn", "-metrics", "127.0.0.1:0")
	a.await(t, 10*time.Second, "listening as luda@127.0.0.1:"+pa)
	metrics := a.await(t, 5*time.Second, "metrics on http://")
	b := startProc(t, bin, "-i", "-name", "yoghurt", "-listen", ":"+pb, "-advertise", "127.0.0.1:"+pb,
		"-peer", "luda@127.0.0.1:"+pa)
	b.await(t, 10*time.Second, "listening as yoghurt@127.0.0.1:"+pb)
	a.await(t, 5*time.Second, "yoghurt@127.0.0.1:"+pb+" joined")
	c := startProc(t, bin, "-name", "kefir", "-listen", "127.0.0.1:"+pc,
		"-peer", "luda@127.0.0.1:"+pa, "-peer", "yoghurt@127.0.0.1:"+pb)
	a.await(t, 5*time.Second, "kefir@127.0.0.1:"+pc+" joined")
	b.await(t, 5*time.Second, "kefir@127.0.0.1:"+pc+" joined")
	if _, err := io.WriteString(b.stdin, "peers\n"); err != nil {
		t.Fatal(err)
	}
	if row := b.await(t, 5*time.Second, "[yoghurt] luda@127.0.0.1:"+pa+" "); !strings.Contains(row, " linked ") || !strings.Contains(row, " out ") {
		t.Fatalf("yoghurt's peers row for luda: %q", row)
	}

	host := strings.Fields(metrics[strings.Index(metrics, "http://"):])[0]
	host = strings.TrimSuffix(strings.TrimPrefix(host, "http://"), "/metrics")
	get := func(path string) string {
		resp, err := http.Get("http://" + host + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	if body := get("/debug/vars"); !strings.Contains(body, `"PersistentLinks":2`) {
		t.Fatalf("/debug/vars: %s", body)
	}
	if body := get("/metrics"); !strings.Contains(body, `antnet_persistent_links{node="luda@127.0.0.1:`+pa+`"} 2`) {
		t.Fatalf("/metrics: %s", body)
	}

	start := time.Now()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	a.await(t, time.Second, "kefir@127.0.0.1:"+pc+" left (goaway)")
	b.await(t, time.Second, "kefir@127.0.0.1:"+pc+" left (goaway)")
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("kefir after SIGTERM: %v", err)
	}
	t.Logf("peers saw kefir leave %v after SIGTERM", time.Since(start).Round(time.Millisecond))

	// In -i mode too, and by SIGINT (Ctrl-C).
	if err := b.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	a.await(t, time.Second, "yoghurt@127.0.0.1:"+pb+" left (goaway)")
	if err := b.cmd.Wait(); err != nil {
		t.Fatalf("yoghurt after SIGINT: %v", err)
	}
}

func TestFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		c    config
		want string
	}{
		{config{name: "x", listen: ":0", mode: "persistent", logLevel: "info"}, "-advertise"},
		{config{name: "x", listen: "0.0.0.0:1", mode: "persistent", logLevel: "info"}, "-advertise"},
		{config{name: "x", listen: "127.0.0.1:0", mode: "persistent", logLevel: "loud"}, "want debug, info, warn or error"},
		{config{name: "x", listen: "127.0.0.1:0", advertise: "nohost", mode: "persistent", logLevel: "info"}, "want host:port"},
		{config{name: "x", listen: "127.0.0.1:0", mode: "persistent", logLevel: "info", keyFile: "main.go"}, "main.go: not an antnet key file ("},
		{config{name: "x", listen: "127.0.0.1:0", mode: "persistent", logLevel: "info", bootstrap: commaList{peerList{"a@127.0.0.1:1"}}}, "-bootstrap needs discovery"},
		{config{name: "x", listen: "127.0.0.1:0", mode: "persistent", logLevel: "info", book: "b.json"}, "-book needs discovery"},
		{config{name: "x", listen: "127.0.0.1:0", mode: "short", logLevel: "info", minLinks: 3, set: map[string]bool{"min-links": true}}, "WithMinLinks(3): peer discovery needs Persistent mode"},
		{config{name: "x", listen: "127.0.0.1:0", mode: "persistent", logLevel: "info", deadPeer: time.Second, keepalive: 2 * time.Second, set: map[string]bool{"dead-peer": true, "keepalive": true}}, "must exceed the keepalive interval"},
	} {
		err := single(tc.c, strings.NewReader(""), io.Discard, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.c, err, tc.want)
		}
	}
	var l peerList
	if err := l.Set("luda"); err == nil || !strings.Contains(err.Error(), "name@host:port") {
		t.Errorf("-peer luda: %v", err)
	}
	var b commaList
	if err := b.Set("a@127.0.0.1:1, b@127.0.0.1:2"); err != nil || b.String() != "a@127.0.0.1:1,b@127.0.0.1:2" {
		t.Errorf("-bootstrap list: %v %q", err, b.String())
	}
	if err := b.Set("c@127.0.0.1:3,nonsense"); err == nil || !strings.Contains(err.Error(), `"nonsense" is not a peer`) {
		t.Errorf("-bootstrap with a bad entry: %v", err)
	}
}

// The README's three terminals, started in any order: yoghurt adds luda,
// kefir adds luda and yoghurt, whoever is up yet; all end linked.
func TestReadmePeersAnyStartOrder(t *testing.T) {
	names := []string{"luda", "yoghurt", "kefir"}
	for _, order := range [][3]int{{0, 1, 2}, {2, 1, 0}, {1, 2, 0}, {2, 0, 1}} {
		t.Run(fmt.Sprint(order), func(t *testing.T) {
			var out syncBuffer
			addrs := make([]string, 3)
			for i := range addrs {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				addrs[i] = ln.Addr().String()
				_ = ln.Close()
			}
			peers := make([]*peer, 3)
			for _, i := range order {
				p, err := newPeer(names[i], addrs[i], engine.Persistent, &out)
				if err != nil {
					t.Fatal(err)
				}
				defer p.node.Close()
				peers[i] = p
				for j := range i {
					p.exec("add " + names[j] + "@" + addrs[j])
				}
			}
			deadline := time.Now().Add(10 * time.Second)
			for _, p := range peers {
				for s := p.node.Stats(); s.Peers != 2 || s.PersistentLinks != 2; s = p.node.Stats() {
					if time.Now().After(deadline) {
						t.Fatalf("%s: %+v\n%s", p.node.ID(), s, out.String())
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
			peers[0].exec("send kefir hi")
			if want := "[luda] kefir answered: kefir got it"; !strings.Contains(out.String(), want) {
				t.Fatalf("missing %q in:\n%s", want, out.String())
			}
		})
	}
}

// columns splits a peers table row: two spaces or more part its columns.
var columns = regexp.MustCompile(`\s{2,}`)

// peersTable sends "peers" to p and returns its rows, peer ID to state
// (the STATE column: "linked", "known (exchange, …)"), and the summary line.
func (p *proc) peersTable(t *testing.T, name string) (map[string]string, string) {
	t.Helper()
	if _, err := io.WriteString(p.stdin, "peers\n"); err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	prefix := "[" + name + "] "
	in := false
	for {
		l := p.await(t, 5*time.Second, prefix)
		rest := strings.TrimPrefix(l, prefix)
		switch {
		case strings.HasPrefix(rest, "peers: "):
			return rows, rest
		case strings.HasPrefix(rest, "PEER "):
			in = true
		case in:
			if cols := columns.Split(rest, -1); len(cols) > 1 {
				rows[cols[0]] = cols[1]
			}
		}
	}
}

// Item 7 of issue 12: four peer processes, three told only the first one's
// address (-bootstrap); discovery links every pair, and each one's peers
// table says so. One leaves: the others list it as known, with no link.
func TestProcessesBootstrap(t *testing.T) {
	bin := buildPeer(t)
	names := []string{"luda", "yoghurt", "kefir", "ayran"}
	ids := make([]string, len(names))
	procs := make([]*proc, len(names))
	start := time.Now()
	for i, name := range names {
		port := freePort(t)
		ids[i] = name + "@127.0.0.1:" + port
		args := []string{"-i", "-name", name, "-listen", "127.0.0.1:" + port, "-log", "warn"}
		if i > 0 {
			args = append(args, "-bootstrap", ids[0])
		}
		procs[i] = startProc(t, bin, args...)
		procs[i].await(t, 10*time.Second, "listening as "+ids[i])
	}
	// everyone's table lists every other peer linked
	deadline := time.Now().Add(20 * time.Second)
	for i, p := range procs {
		for {
			rows, sum := p.peersTable(t, names[i])
			missing := 0
			for j, id := range ids {
				if j != i && rows[id] != "linked" {
					missing++
				}
			}
			if missing == 0 && len(rows) == len(ids)-1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d peers not linked: %v (%s)", names[i], missing, rows, sum)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	t.Logf("%d peers from one bootstrap address: all linked after %v", len(ids), time.Since(start).Round(time.Millisecond))

	// ayran leaves: its peers keep it in their books, known with no link
	// (dialed again while they are short of links, so possibly dialing a moment).
	last := len(procs) - 1
	if err := procs[last].cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := procs[last].cmd.Wait(); err != nil {
		t.Fatalf("ayran after SIGTERM: %v", err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for i, p := range procs[:last] {
		for {
			rows, sum := p.peersTable(t, names[i])
			if strings.HasPrefix(rows[ids[last]], "known (") && strings.Contains(sum, "1 known") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: ayran is %q, want known (%s)", names[i], rows[ids[last]], sum)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}
