package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/engine"
	"github.com/antnet-p2p/antnet/internal/testkit"
)

// At the default log level the accepting peer's log names a refused
// connection's remote address and the reason: here a secure/plain
// mismatch, one peer with -key and one without, each dialing the other.
func TestRefusalsShowAtTheDefaultLevel(t *testing.T) {
	start := func(name, keyFile string, out, log *syncBuffer) *peer {
		t.Helper()
		c := config{name: name, listen: "127.0.0.1:0", mode: "persistent", logLevel: defaultLogLevel, keyFile: keyFile, logTo: log}
		opts, err := c.options()
		if err != nil {
			t.Fatal(err)
		}
		p, err := newPeer(name, c.listen, engine.Persistent, out, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.node.Close() })
		return p
	}
	var out, secureLog, plainLog syncBuffer
	s := start("s", filepath.Join(t.TempDir(), "s.key"), &out, &secureLog)
	p := start("p", "", &out, &plainLog)

	p.exec("add " + s.node.ID().String())
	s.exec("add " + p.node.ID().String())
	for _, want := range []string{
		"[p] add " + s.node.ID().String() + ": antnet: connect " + s.node.ID().String() + ": antnet: refused by peer: this node requires secure links",
		"[s] add " + p.node.ID().String() + ": antnet: connect " + p.node.ID().String() + ": antnet: refused by peer: this node does not speak secure links",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("console lacks %q:\n%s", want, out.String())
		}
	}
	for _, c := range []struct {
		name string
		log  *syncBuffer
		want string
	}{
		{"secure acceptor", &secureLog, `a plain peer said hello; this node requires secure links`},
		{"plain acceptor", &plainLog, `the peer asked for a secure link; this node is plain`},
	} {
		re := regexp.MustCompile(`level=WARN msg="refused connection" node=\w+ remote=127\.0\.0\.1:\d+ reason="secure/plain mismatch: ` + regexp.QuoteMeta(c.want))
		if !testkit.Poll(2*time.Second, 10*time.Millisecond, func() bool { return re.MatchString(c.log.String()) }) {
			t.Fatalf("%s's log does not name the mismatch and the remote address:\n%s", c.name, c.log.String())
		}
	}
}
