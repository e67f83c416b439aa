// Command peer runs antnet peers you can talk to.
//
// With no arguments it starts three peers in one process, walks through a
// short scripted session (join, requests, a broadcast, a peer leaving) and
// exits 0. With flags it runs one peer per process:
//
//	go run ./examples/peer -name luda -listen 127.0.0.1:12345 -i
//	go run ./examples/peer -name yoghurt -listen 127.0.0.1:12346 -peer luda@127.0.0.1:12345 -i
//	go run ./examples/peer -name kefir -listen 127.0.0.1:12347 -peer luda@127.0.0.1:12345 -peer yoghurt@127.0.0.1:12346 -i
//
// then type "help" at any of them. Add -key FILE to every peer for
// authenticated, encrypted links (the key is created on first use).
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/antnet-p2p/antnet/engine"
	"github.com/antnet-p2p/antnet/secure"
)

type peerList []string

func (l *peerList) String() string     { return strings.Join(*l, ",") }
func (l *peerList) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	name := flag.String("name", "", "this peer's name (no flags at all: run the scripted demo)")
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	mode := flag.String("mode", "persistent", "connection mode: persistent or short")
	interactive := flag.Bool("i", false, "read commands from standard input")
	keyFile := flag.String("key", "", "secure links: this peer's private key file (created if missing)")
	var peers peerList
	flag.Var(&peers, "peer", "a peer to join, name@host:port, or name@host:port#fingerprint to pin its key (repeatable)")
	flag.Parse()

	var err error
	if flag.NFlag() == 0 {
		err = demo(os.Stdout)
	} else {
		err = single(*name, *listen, *mode, *keyFile, peers, *interactive)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
		os.Exit(1)
	}
}

func parseMode(s string) (engine.Mode, error) {
	switch s {
	case "persistent":
		return engine.Persistent, nil
	case "short":
		return engine.Short, nil
	}
	return 0, fmt.Errorf("unknown mode %q: persistent or short", s)
}

// single runs one peer until quit, end of input or Ctrl-C.
func single(name, listen, modeName, keyFile string, peers []string, interactive bool) error {
	if name == "" {
		return errors.New("-name is required")
	}
	mode, err := parseMode(modeName)
	if err != nil {
		return err
	}
	var opts []engine.Option
	if keyFile != "" {
		id, err := secure.LoadOrCreate(keyFile)
		if err != nil {
			return err
		}
		opts = append(opts, engine.WithIdentity(id))
	}
	p, err := newPeer(name, listen, mode, os.Stdout, opts...)
	if err != nil {
		return err
	}
	defer p.node.Close()
	p.printf("listening as %s (%s mode)", p.node.ID(), mode)
	if fp := p.node.ID().Fingerprint(); fp != "" {
		p.printf("secure links, key %s", fp)
	}
	for _, s := range peers {
		p.exec("add " + s)
	}
	if !interactive {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt)
		<-sig
		return nil
	}
	p.printf("type help for commands")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if p.exec(sc.Text()) {
			break
		}
	}
	return sc.Err()
}

// demo starts three peers in one process and plays a short session.
func demo(out io.Writer) error {
	var ps []*peer
	for _, name := range []string{"luda", "yoghurt", "kefir"} {
		p, err := newPeer(name, "127.0.0.1:0", engine.Persistent, out)
		if err != nil {
			return err
		}
		defer p.node.Close()
		ps = append(ps, p)
	}
	luda, yoghurt, kefir := ps[0], ps[1], ps[2]
	id := func(p *peer) string { return p.node.ID().String() }
	script := []struct {
		who  *peer
		line string
	}{
		{yoghurt, "add " + id(luda)},
		{kefir, "add " + id(yoghurt)}, // a line: luda - yoghurt - kefir
		{luda, "peers"},
		{luda, "send yoghurt hello there"},
		{kefir, "send yoghurt hi from kefir"},
		{yoghurt, "all who is around?"},
		{luda, "broadcast news travels hop by hop"},
		{kefir, "stats"},
		{kefir, "quit"},
	}
	for _, step := range script {
		step.who.printf("> %s", step.line)
		if step.who.exec(step.line) {
			break
		}
		time.Sleep(50 * time.Millisecond) // let the output of each step land before the next
	}
	if err := kefir.node.Close(); err != nil {
		return err
	}
	time.Sleep(50 * time.Millisecond)
	yoghurt.exec("peers")
	if got := len(yoghurt.node.Peers()); got != 1 {
		return fmt.Errorf("yoghurt still has %d peers after kefir left, want 1", got)
	}
	if s := kefir.node.Stats(); s.GossipDelivered != 1 {
		return fmt.Errorf("kefir delivered %d broadcasts, want 1", s.GossipDelivered)
	}
	fmt.Fprintln(out, "demo done")
	return nil
}
