package main

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
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
	for _, want := range []string{"[b] a says: sealed", "key " + b.node.ID().Fingerprint()} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("missing %q in:\n%s", want, out.String())
		}
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
