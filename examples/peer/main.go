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
// then type "help" at any of them. Or give each peer only a bootstrap peer
// and let discovery find the rest (on by default: -min-links 8):
//
//	go run ./examples/peer -name kefir -listen 127.0.0.1:12347 -bootstrap luda@127.0.0.1:12345 -i
//
// Add -key FILE to every peer for
// authenticated, encrypted links (the key is created on first use), and
// -peer name@host:port#fingerprint to pin a peer's key. Ctrl-C
// or SIGTERM leaves gracefully: every peer is told goaway, and the process
// exits 0. -log sets the log level (default info), -metrics HOST:PORT serves
// the node's counters at /metrics (Prometheus) and /debug/vars, and -listen :PORT with -advertise
// HOST:PORT listens on every interface. -book FILE keeps the address book
// across restarts; -keepalive and -dead-peer set how fast a dead link is
// found.
package main

import (
	"bufio"
	"context"
	"errors"
	"expvar"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/antnet-p2p/antnet/engine"
	antprom "github.com/antnet-p2p/antnet/metrics/prometheus"
	"github.com/antnet-p2p/antnet/proto"
	"github.com/antnet-p2p/antnet/secure"
)

type peerList []string

func (l *peerList) String() string { return strings.Join(*l, ",") }

// Set checks each -peer value as it is given, so a typo is named at once.
func (l *peerList) Set(v string) error {
	s, _, err := proto.CutFingerprint(v)
	if err == nil {
		_, err = proto.ParsePeerID(s)
	}
	if err != nil {
		return fmt.Errorf("%q is not a peer: want name@host:port or name@host:port#fingerprint", v)
	}
	*l = append(*l, v)
	return nil
}

// commaList is a peerList whose flag also takes a comma-separated list.
type commaList struct{ peerList }

// Set checks and adds each peer of a comma-separated list.
func (l *commaList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if err := l.peerList.Set(strings.TrimSpace(s)); err != nil {
			return err
		}
	}
	return nil
}

// config is what the flags say for a single peer.
type config struct {
	name, listen, advertise, mode, keyFile, logLevel, metrics string
	peers                                                     peerList
	bootstrap                                                 commaList
	minLinks                                                  int    // 0: discovery off
	book                                                      string // address book file
	keepalive, deadPeer                                       time.Duration
	set                                                       map[string]bool // flags given on the command line
	interactive                                               bool
	logTo                                                     io.Writer // nil: standard error
}

const (
	// defaultLogLevel shows refused connections and why (info), not every
	// link's comings and goings (debug).
	defaultLogLevel = "info"
	// defaultMinLinks: discovery is on in persistent mode, so that a peer
	// started with no -bootstrap answers the peer exchange of those that
	// bootstrap from it, and each peer dials learned ones until it has 8
	// links (or knows no more peers).
	defaultMinLinks = 8
)

func main() {
	var c config
	flag.StringVar(&c.name, "name", "", "this peer's name (no flags at all: run the scripted demo)")
	flag.StringVar(&c.listen, "listen", "127.0.0.1:0", "address to listen on (:PORT or 0.0.0.0:PORT: every interface; then -advertise is required)")
	flag.StringVar(&c.advertise, "advertise", "", "host:port other peers should dial to reach this one (default: the listen address)")
	flag.StringVar(&c.mode, "mode", "persistent", "connection mode: persistent or short")
	flag.BoolVar(&c.interactive, "i", false, "read commands from standard input")
	flag.StringVar(&c.keyFile, "key", "", "secure links: this peer's private key file (created if missing)")
	flag.StringVar(&c.logLevel, "log", defaultLogLevel, "log level on standard error: debug, info (refused connections and why), warn or error")
	flag.StringVar(&c.metrics, "metrics", "", "serve /metrics (Prometheus) and /debug/vars on this host:port")
	flag.Var(&c.peers, "peer", "a peer to join, name@host:port, or name@host:port#fingerprint to pin its key (repeatable)")
	flag.Var(&c.bootstrap, "bootstrap", "a peer to join the network through, name@host:port[#fingerprint]; discovery finds the others (repeatable, or a comma list)")
	flag.IntVar(&c.minLinks, "min-links", defaultMinLinks, "discovery: learn peers from linked ones and dial them until this many links (0: off; persistent mode only, short mode defaults to 0)")
	flag.StringVar(&c.book, "book", "", "discovery: keep the address book in this file, so a restart rejoins without -bootstrap")
	flag.DurationVar(&c.keepalive, "keepalive", 15*time.Second, "ping a link silent this long (default with -dead-peer: a third of it)")
	flag.DurationVar(&c.deadPeer, "dead-peer", 45*time.Second, "close a link silent this long: a cut link is found within it plus one tick of the node's timers (at most 250ms)")
	flag.Parse()
	c.set = map[string]bool{}
	flag.Visit(func(f *flag.Flag) { c.set[f.Name] = true })

	var err error
	if flag.NFlag() == 0 {
		err = demo(os.Stdout)
	} else {
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
		err = single(c, os.Stdin, os.Stdout, stop)
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

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("-log %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// options turns the flags into node options.
func (c config) options() ([]engine.Option, error) {
	level, err := parseLevel(c.logLevel)
	if err != nil {
		return nil, err
	}
	logTo := c.logTo
	if logTo == nil {
		logTo = os.Stderr
	}
	log := slog.New(slog.NewTextHandler(logTo, &slog.HandlerOptions{Level: level}))
	opts := []engine.Option{engine.WithLogger(log)}
	host, _, err := net.SplitHostPort(c.listen)
	if err != nil {
		return nil, fmt.Errorf("-listen %q: want host:port or :port", c.listen)
	}
	if ip := net.ParseIP(host); (host == "" || ip != nil && ip.IsUnspecified()) && c.advertise == "" {
		return nil, fmt.Errorf("-listen %q listens on every interface: say with -advertise host:port where peers should dial", c.listen)
	}
	if c.advertise != "" {
		if err := proto.ValidateAddr(c.advertise); err != nil {
			return nil, fmt.Errorf("-advertise %q: want host:port", c.advertise)
		}
		opts = append(opts, engine.WithAdvertiseAddr(c.advertise))
	}
	if c.set["dead-peer"] || c.set["keepalive"] {
		ka := c.keepalive
		if !c.set["keepalive"] {
			ka = c.deadPeer / 3
		}
		opts = append(opts, engine.WithKeepalive(ka), engine.WithDeadPeerTimeout(c.deadPeer))
	}
	if len(c.bootstrap.peerList) > 0 && c.minLinks <= 0 {
		return nil, errors.New("-bootstrap needs discovery: -min-links > 0 and persistent mode")
	}
	if c.book != "" && c.minLinks <= 0 {
		return nil, errors.New("-book needs discovery: -min-links > 0 and persistent mode")
	}
	if c.minLinks > 0 {
		opts = append(opts, engine.WithMinLinks(c.minLinks))
	}
	if c.book != "" {
		opts = append(opts, engine.WithAddressBook(c.book))
	}
	if c.keyFile != "" {
		id, err := secure.LoadOrCreate(c.keyFile)
		if err != nil {
			return nil, err
		}
		opts = append(opts, engine.WithIdentity(id))
	}
	return opts, nil
}

// single runs one peer until quit, end of input (with -i), SIGINT or
// SIGTERM, then shuts it down gracefully (Shutdown): requests in flight
// get their answers, then every peer is told goaway.
func single(c config, in io.Reader, out io.Writer, stop <-chan os.Signal) error {
	if c.name == "" {
		return errors.New("-name is required")
	}
	mode, err := parseMode(c.mode)
	if err != nil {
		return err
	}
	if mode == engine.Short && !c.set["min-links"] {
		c.minLinks = 0 // discovery needs persistent links
	}
	opts, err := c.options()
	if err != nil {
		return err
	}
	p, err := newPeer(c.name, c.listen, mode, out, opts...)
	if err != nil {
		return err
	}
	defer p.node.Close() // a no-op after the graceful Shutdown below
	p.printf("listening as %s (%s mode)", p.node.ID(), mode)
	if fp := p.node.ID().Fingerprint(); fp != "" {
		p.printf("secure links, key %s", fp)
	}
	if c.metrics != "" {
		addr, err := serveMetrics(p.node, c.metrics)
		if err != nil {
			return err
		}
		p.printf("metrics on http://%s/metrics and /debug/vars", addr)
	}
	for _, s := range append(c.peers, c.bootstrap.peerList...) {
		p.exec("add " + s)
	}
	quit := make(chan struct{})
	if c.interactive {
		p.printf("type help for commands")
		go func() { // the console: the node itself needs no goroutine
			defer close(quit)
			sc := bufio.NewScanner(in)
			for sc.Scan() {
				if p.exec(sc.Text()) {
					return
				}
			}
		}()
	}
	select {
	case sig := <-stop:
		p.printf("%s: leaving", sig)
	case <-quit:
	}
	ctx, cancel := context.WithTimeout(context.Background(), gracefulExit)
	defer cancel()
	return p.node.Shutdown(ctx)
}

// gracefulExit bounds how long a leaving peer waits for the requests in
// flight to be answered: the node's request timeout (5 s) and a second.
const gracefulExit = 6 * time.Second

// serveMetrics serves the node's counters at /metrics (Prometheus) and
// /debug/vars (expvar) on addr and returns the bound address.
func serveMetrics(n *engine.Node, addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("-metrics: %w", err)
	}
	n.PublishExpvar("antnet")
	reg := prometheus.NewRegistry()
	reg.MustRegister(antprom.NewCollector(n))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/debug/vars", expvar.Handler())
	go http.Serve(ln, mux) //nolint:errcheck // ends with the process
	return ln.Addr().String(), nil
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
