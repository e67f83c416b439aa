package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/antnet-p2p/antnet/internal/benchkit"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"
)

const idleDescription = "one server in this process; a child process (this binary, re-executed) makes N client hosts/nodes " +
	"(antnet: one event loop each), connects each to the server, 32 at a time (up to 3 attempts each), makes one 128 B request on each " +
	"(libp2p: on a stream of its own, then closed), then holds them open and idle; " +
	"this process's RSS (/proc/self/statm), Go heap (HeapInuse) and goroutines are read after runtime.GC twice and " +
	"debug.FreeOSMemory, before the child starts and once the server counts N connections and 500 ms have passed; " +
	"the deltas over N are the figures"

// idleSpec is what the parent hands the child.
type idleSpec struct {
	Impl   string   `json:"impl"` // antnet or libp2p
	Secure bool     `json:"secure"`
	Addr   string   `json:"addr"`  // antnet: host:port
	Peer   string   `json:"peer"`  // libp2p: the server's peer ID
	Addrs  []string `json:"addrs"` // libp2p: its multiaddrs
	Conns  int      `json:"conns"`
}

// idleReady is the child's one report, once every connection is made.
type idleReady struct {
	Open    int    `json:"open"`
	Failed  int    `json:"failed"`
	Retries int    `json:"retries"` // attempts that failed and were made again
	Err     string `json:"err,omitempty"`
}

func idleCases(cfg *config) []caseSpec {
	var cs []caseSpec
	for _, sec := range cfg.security {
		ps := params{{"links", secName(sec)}, {"conns", cfg.idleConns}}
		cs = append(cs,
			caseSpec{"idle", implLibp2p, ps, func(r *Result) error { return idleLibp2p(sec, cfg.idleConns, r) }},
			caseSpec{"idle", implAntnet, ps, func(r *Result) error { return idleAntnet(sec, cfg.idleConns, r) }},
		)
	}
	return cs
}

func idleLibp2p(sec bool, n int, r *Result) error {
	srv, err := startEchoHost(sec)
	if err != nil {
		return err
	}
	defer srv.Close()
	if sec {
		r.Cipher = cipherLibp2p
	}
	sp := idleSpec{Impl: implLibp2p, Secure: sec, Peer: srv.ID().String(), Conns: n}
	for _, a := range srv.Addrs() {
		sp.Addrs = append(sp.Addrs, a.String())
	}
	return idleRun(sp, func() int { return len(srv.Network().Conns()) }, r)
}

func idleAntnet(sec bool, n int, r *Result) error {
	srv, err := startNode("server", echo, sec, serverLoops())
	if err != nil {
		return err
	}
	defer srv.Close()
	if sec {
		r.Cipher = cipherAntnet
	}
	return idleRun(idleSpec{Impl: implAntnet, Secure: sec, Addr: srv.Addr(), Conns: n},
		func() int { return int(srv.Stats().PersistentLinks) }, r)
}

// idleRun has a child connect sp.Conns idle peers and measures what they
// cost this process; conns counts the server's connections.
func idleRun(sp idleSpec, conns func() int, r *Result) error {
	before := benchkit.SnapMem()
	arg, _ := json.Marshal(sp)
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childEnv+"="+string(arg))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	kill := time.AfterFunc(5*time.Minute, func() { _ = cmd.Process.Kill() })
	defer kill.Stop()
	defer func() {
		stdin.Close() // the child closes its peers and exits
		_ = cmd.Wait()
	}()
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() {
		return errors.New("idle child exited early")
	}
	var ready idleReady
	line, ok := strings.CutPrefix(sc.Text(), "ready ")
	if !ok {
		return fmt.Errorf("idle child said %q", sc.Text())
	}
	if err := json.Unmarshal([]byte(line), &ready); err != nil {
		return err
	}
	if ready.Failed > 0 {
		return fmt.Errorf("%d of %d connections failed 3 times, first: %s", ready.Failed, sp.Conns, ready.Err)
	}
	if !waitFor(10*time.Second, func() bool { return conns() == sp.Conns }) {
		return fmt.Errorf("server counts %d connections, want %d", conns(), sp.Conns)
	}
	time.Sleep(500 * time.Millisecond) // background work a connection starts (identify) settles
	after := benchkit.SnapMem()
	if c := conns(); c != sp.Conns {
		return fmt.Errorf("server counts %d connections after the wait, want %d", c, sp.Conns)
	}
	n := float64(sp.Conns)
	if ready.Retries > 0 {
		r.addNote(fmt.Sprintf("%d connection attempts failed and were made again", ready.Retries))
	}
	r.Conns = sp.Conns
	r.BytesPerConn = (float64(after.RSS) - float64(before.RSS)) / n
	r.HeapPerConn = (float64(after.Heap) - float64(before.Heap)) / n
	r.GoroutinesPerConn = float64(after.Goroutines-before.Goroutines) / n
	r.Goroutines = after.Goroutines - before.Goroutines
	return nil
}

// childEnv, set in a process's environment, makes it the idle scenario's
// child (this binary or a test binary, re-executed).
const childEnv = "ANTNET_PEERS_IDLE_CHILD"

// childMain is the idle scenario's child: it connects, says "ready", and
// at EOF on stdin closes everything and exits.
func childMain(arg string) {
	var sp idleSpec
	if err := json.Unmarshal([]byte(arg), &sp); err != nil {
		fatalf("child: %v", err)
	}
	benchkit.RaiseNoFile()
	var (
		mu     sync.Mutex
		ready  idleReady
		closes []func() error
	)
	msg := make([]byte, 128)
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i := range sp.Conns {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			// Up to 3 attempts: on a loaded 2-core machine a handshake
			// among 32 may miss its 10 s deadline (either stack).
			var closeFn func() error
			var err error
			for try := 0; try < 3; try++ {
				if closeFn, err = idlePeer(sp, i, msg); err == nil {
					break
				}
				if closeFn != nil {
					_ = closeFn()
					closeFn = nil
				}
				if try < 2 {
					mu.Lock()
					ready.Retries++
					mu.Unlock()
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if closeFn != nil {
				closes = append(closes, closeFn)
			}
			if err != nil {
				if ready.Failed++; ready.Failed == 1 {
					ready.Err = err.Error()
				}
				return
			}
			ready.Open++
		}()
	}
	wg.Wait()
	b, _ := json.Marshal(ready)
	fmt.Printf("ready %s\n", b)
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
	}
	var cwg sync.WaitGroup
	for _, c := range closes {
		cwg.Add(1)
		go func() { defer cwg.Done(); _ = c() }()
	}
	cwg.Wait()
}

// idlePeer makes client i, connects it and makes one request; the closer
// is returned whenever a client was made.
func idlePeer(sp idleSpec, i int, msg []byte) (func() error, error) {
	buf := make([]byte, 0, len(msg)+4)
	ctx, cancel := connectCtx()
	defer cancel()
	if sp.Impl == implAntnet {
		n, err := startNode(fmt.Sprintf("idle%d", i), nil, sp.Secure, 1)
		if err != nil {
			return nil, err
		}
		if err := n.AddRouteContext(ctx, "server", sp.Addr); err != nil {
			return n.Close, err
		}
		_, err = n.DispatchAppend(ctx, "server@"+sp.Addr, msg, buf)
		return n.Close, err
	}
	h, err := newHost(sp.Secure)
	if err != nil {
		return nil, err
	}
	info, err := libp2pInfo(sp)
	if err != nil {
		return h.Close, err
	}
	if err := h.Connect(ctx, info); err != nil {
		return h.Close, err
	}
	_, err = perReqCall(h, info.ID, msg, buf)
	return h.Close, err
}

func libp2pInfo(sp idleSpec) (peer.AddrInfo, error) {
	id, err := peer.Decode(sp.Peer)
	if err != nil {
		return peer.AddrInfo{}, err
	}
	info := peer.AddrInfo{ID: id}
	for _, a := range sp.Addrs {
		ma, err := multiaddr.NewMultiaddr(a)
		if err != nil {
			return info, err
		}
		info.Addrs = append(info.Addrs, ma)
	}
	return info, nil
}
