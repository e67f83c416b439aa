package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/engine"
	"github.com/antnet-p2p/antnet/internal/testkit"
	"github.com/antnet-p2p/antnet/secure"
)

// syncBuffer collects the peers' concurrent prints.
type syncBuffer = testkit.Buffer

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

// startProc starts the peer binary bin with args; its standard error
// goes to the test's.
func startProc(t *testing.T, bin string, args ...string) *testkit.Proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	return testkit.StartProc(t, strings.Join(args, " "), cmd)
}

// buildPeer builds the example once per test process and returns the
// binary's path; with -short the test is skipped instead.
func buildPeer(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the example as processes")
	}
	return testkit.Build(t, ".")
}

// TestMain removes the peer binary testkit.Build made.
func TestMain(m *testing.M) { testkit.Main(m) }

// Three peer processes; SIGTERM (or SIGINT in -i mode) makes one leave
// gracefully: it exits 0 and the others see it leave at once, long before
// any timeout could tell them.
func TestProcessesLeaveOnSignal(t *testing.T) {
	bin := buildPeer(t)
	pa, pb, pc := testkit.FreePort(t), testkit.FreePort(t), testkit.FreePort(t)
	a := startProc(t, bin, "-name", "luda", "-listen", "127.0.0.1:"+pa, "-log", "warn", "-metrics", "127.0.0.1:0")
	a.Await(t, 10*time.Second, "listening as luda@127.0.0.1:"+pa)
	metrics := a.Await(t, 5*time.Second, "metrics on http://")
	b := startProc(t, bin, "-i", "-name", "yoghurt", "-listen", ":"+pb, "-advertise", "127.0.0.1:"+pb,
		"-peer", "luda@127.0.0.1:"+pa)
	b.Await(t, 10*time.Second, "listening as yoghurt@127.0.0.1:"+pb)
	a.Await(t, 5*time.Second, "yoghurt@127.0.0.1:"+pb+" joined")
	c := startProc(t, bin, "-name", "kefir", "-listen", "127.0.0.1:"+pc,
		"-peer", "luda@127.0.0.1:"+pa, "-peer", "yoghurt@127.0.0.1:"+pb)
	a.Await(t, 5*time.Second, "kefir@127.0.0.1:"+pc+" joined")
	b.Await(t, 5*time.Second, "kefir@127.0.0.1:"+pc+" joined")
	b.Say(t, "peers")
	if row := b.Await(t, 5*time.Second, "[yoghurt] luda@127.0.0.1:"+pa+" "); !strings.Contains(row, " linked ") || !strings.Contains(row, " out ") {
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
	if err := c.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	a.Await(t, time.Second, "kefir@127.0.0.1:"+pc+" left (goaway)")
	b.Await(t, time.Second, "kefir@127.0.0.1:"+pc+" left (goaway)")
	if err := c.Wait(); err != nil {
		t.Fatalf("kefir after SIGTERM: %v", err)
	}
	t.Logf("peers saw kefir leave %v after SIGTERM", time.Since(start).Round(time.Millisecond))

	// In -i mode too, and by SIGINT (Ctrl-C).
	if err := b.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	a.Await(t, time.Second, "yoghurt@127.0.0.1:"+pb+" left (goaway)")
	if err := b.Wait(); err != nil {
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
			addrs := []string{testkit.FreeAddr(t), testkit.FreeAddr(t), testkit.FreeAddr(t)}
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
				var s engine.Stats
				if !testkit.Poll(time.Until(deadline), 10*time.Millisecond, func() bool {
					s = p.node.Stats()
					return s.Peers == 2 && s.PersistentLinks == 2
				}) {
					t.Fatalf("%s: %+v\n%s", p.node.ID(), s, out.String())
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
func peersTable(t *testing.T, p *testkit.Proc, name string) (map[string]string, string) {
	t.Helper()
	p.Say(t, "peers")
	rows := map[string]string{}
	prefix := "[" + name + "] "
	in := false
	for {
		l := p.Await(t, 5*time.Second, prefix)
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
	procs := make([]*testkit.Proc, len(names))
	start := time.Now()
	for i, name := range names {
		port := testkit.FreePort(t)
		ids[i] = name + "@127.0.0.1:" + port
		args := []string{"-i", "-name", name, "-listen", "127.0.0.1:" + port, "-log", "warn"}
		if i > 0 {
			args = append(args, "-bootstrap", ids[0])
		}
		procs[i] = startProc(t, bin, args...)
		procs[i].Await(t, 10*time.Second, "listening as "+ids[i])
	}
	// everyone's table lists every other peer linked
	deadline := time.Now().Add(20 * time.Second)
	for i, p := range procs {
		var rows map[string]string
		var sum string
		missing := 0
		if !testkit.Poll(time.Until(deadline), 100*time.Millisecond, func() bool {
			rows, sum = peersTable(t, p, names[i])
			missing = 0
			for j, id := range ids {
				if j != i && rows[id] != "linked" {
					missing++
				}
			}
			return missing == 0 && len(rows) == len(ids)-1
		}) {
			t.Fatalf("%s: %d peers not linked: %v (%s)", names[i], missing, rows, sum)
		}
	}
	t.Logf("%d peers from one bootstrap address: all linked after %v", len(ids), time.Since(start).Round(time.Millisecond))

	// ayran leaves: its peers keep it in their books, known with no link
	// (dialed again while they are short of links, so possibly dialing a moment).
	last := len(procs) - 1
	if err := procs[last].Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := procs[last].Wait(); err != nil {
		t.Fatalf("ayran after SIGTERM: %v", err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for i, p := range procs[:last] {
		var state, sum string
		if !testkit.Poll(time.Until(deadline), 100*time.Millisecond, func() bool {
			var rows map[string]string
			rows, sum = peersTable(t, p, names[i])
			state = rows[ids[last]]
			return strings.HasPrefix(state, "known (") && strings.Contains(sum, "1 known")
		}) {
			t.Fatalf("%s: ayran is %q, want known (%s)", names[i], state, sum)
		}
	}
}
