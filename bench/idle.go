package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/proto"
)

// idle: one server holding N persistent peer connections that do nothing,
// the peers in a second process. The figures are this (the server's)
// process's memory and goroutines, before the peers connect and once they
// all sit idle, divided by N.

const idleDescription = "a child process (this binary, -idle-child) opens N TCP connections to the server on 127.0.0.1, " +
	"at most 256 handshakes at a time; each sends hello (advertising 127.0.0.1:<10000+i>, so antnet routes N distinct peers), " +
	"makes one 128 B request/response, then stays open and idle (a reader goroutine in the child answers keepalive pings); " +
	"the server's process reads RSS (/proc/self/statm), Go heap (MemStats.HeapInuse) and runtime.NumGoroutine, " +
	"each time after runtime.GC + debug.FreeOSMemory, before the dials and once all N are idle, and divides the deltas by N; " +
	"the goroutine server here is the lean variant a server careful with memory would run " +
	"(net/http's sizes: a 4 KiB bufio.Reader per conn, a 4 KiB bufio.Writer from a sync.Pool only while output is pending)"

// idleBasePort: peer i advertises 127.0.0.1:idleBasePort+i.
const idleBasePort = 10000

// idleDialConcurrency bounds the child's handshakes in flight (antnet caps
// pending inbound handshakes at 4096).
const idleDialConcurrency = 256

type idleSpec struct {
	Addr        string `json:"addr"`
	Conns       int    `json:"conns"`
	Concurrency int    `json:"concurrency"`
	Payload     int    `json:"payload"`
	BasePort    int    `json:"base_port"`
}

// idleReady is the child's report once every dial has finished.
type idleReady struct {
	Open      int    `json:"open"`
	Failed    int    `json:"failed"`
	Err       string `json:"err,omitempty"`
	ElapsedNS int64  `json:"elapsed_ns"`
}

// idleStatus is the child's answer to "status": how many connections are
// still open, and why the first one that closed did.
type idleStatus struct {
	Open   int64  `json:"open"`
	Closed int64  `json:"closed"`
	Pings  int64  `json:"pings"`
	Err    string `json:"err,omitempty"`
}

func idleCases(cfg *config) []caseSpec {
	n := cfg.idleConns
	if n <= 0 {
		n = 10000
		if cfg.quick {
			n = 1000
		}
	}
	ps := params{{"conns", n}}
	var cs []caseSpec
	for _, impl := range serverImpls {
		cs = append(cs, caseSpec{
			scenario: "idle", impl: impl, params: ps, group: ps.String(),
			run: func(r *Result) error { return idleRun(impl, n, r) },
		})
	}
	return cs
}

// connCounter is a server that can count its open connections.
type connCounter interface{ openConns() int }

// memSnap is this process's memory and goroutines after full collections
// with the freed pages returned to the OS.
type memSnap struct {
	rss, heap, stack uint64
	goroutines       int
}

func snapMem() memSnap {
	runtime.GC() // twice: a sync.Pool's items survive one collection
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSnap{rss: readRSS(), heap: ms.HeapInuse, stack: ms.StackInuse, goroutines: runtime.NumGoroutine()}
}

// readRSS is the resident set size from /proc/self/statm, in bytes.
func readRSS() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}

// idleRun starts impl's server, has a child process connect n idle peers
// to it, and measures the memory and goroutines they cost the server.
func idleRun(impl string, n int, r *Result) error {
	if n+idleBasePort > 65535 {
		return fmt.Errorf("-idle-conns %d: at most %d (peers advertise ports from %d)", n, 65535-idleBasePort, idleBasePort)
	}
	s, err := startServer(impl, serverOpts{lean: true})
	if err != nil {
		return err
	}
	defer closeServer(s, r)
	before := snapMem()

	exe, err := os.Executable()
	if err != nil {
		return err
	}
	spec, _ := json.Marshal(idleSpec{Addr: s.Addr(), Conns: n, Concurrency: idleDialConcurrency, Payload: 128, BasePort: idleBasePort})
	cmd := exec.Command(exe, "-idle-child", string(spec))
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
	// Whatever happens, the child does not outlive the row.
	timer := time.AfterFunc(120*time.Second, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	exited := false
	defer func() {
		if !exited {
			stdin.Close()
			_ = cmd.Wait()
		}
	}()
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	line := func(prefix string, v any) error {
		if !sc.Scan() {
			if err := sc.Err(); err != nil {
				return fmt.Errorf("idle child: %w", err)
			}
			return errors.New("idle child: exited early")
		}
		rest, ok := strings.CutPrefix(sc.Text(), prefix+" ")
		if !ok {
			return fmt.Errorf("idle child: unexpected line %q", sc.Text())
		}
		return json.Unmarshal([]byte(rest), v)
	}

	var ready idleReady
	if err := line("ready", &ready); err != nil {
		return err
	}
	if ready.Failed > 0 {
		return fmt.Errorf("%d of %d connections failed, first: %s", ready.Failed, n, ready.Err)
	}
	// Every peer got its response, so the server has them all; wait anyway
	// until it counts them (a goroutine server registers before it reads).
	seen := -1
	if cc, ok := s.(connCounter); ok {
		deadline := time.Now().Add(5 * time.Second)
		for seen = cc.openConns(); seen < n && time.Now().Before(deadline); seen = cc.openConns() {
			time.Sleep(10 * time.Millisecond)
		}
		if seen != n {
			r.addNote(fmt.Sprintf("server counts %d conns, want %d", seen, n))
		}
	}
	if a, ok := s.(*antnetServer); ok {
		if p := a.n.Stats().Peers; p != n {
			r.addNote(fmt.Sprintf("route table holds %d peers, want %d", p, n))
		}
	}
	time.Sleep(100 * time.Millisecond)
	after := snapMem()

	if _, err := io.WriteString(stdin, "status\n"); err != nil {
		return err
	}
	var st idleStatus
	if err := line("status", &st); err != nil {
		return err
	}
	stdin.Close() // the child closes its connections and exits
	for sc.Scan() {
	}
	exited = true
	if err := cmd.Wait(); err != nil {
		r.addNote(fmt.Sprintf("idle child: %v", err))
	}

	per := func(a, b uint64) float64 { return (float64(a) - float64(b)) / float64(n) }
	r.BytesPerConn = per(after.rss, before.rss)
	r.HeapPerConn = per(after.heap, before.heap)
	r.Goroutines = after.goroutines - before.goroutines
	r.Conns = n
	r.addNote(fmt.Sprintf("stacks %.0f B/conn, dials %v", per(after.stack, before.stack),
		time.Duration(ready.ElapsedNS).Round(time.Millisecond)))
	if st.Pings > 0 {
		r.addNote(fmt.Sprintf("%d keepalive pings answered", st.Pings))
	}
	if st.Closed > 0 {
		return fmt.Errorf("%d of %d connections closed while idle, first: %s", st.Closed, n, st.Err)
	}
	return nil
}

// idleChild is the child's main: connect, report "ready", answer "status"
// lines on stdin, and close everything at EOF.
func idleChild(arg string) {
	var sp idleSpec
	if err := json.Unmarshal([]byte(arg), &sp); err != nil {
		fatalf("idle-child: %v", err)
	}
	raiseNoFile()
	out := bufio.NewWriter(os.Stdout)
	emit := func(prefix string, v any) {
		b, _ := json.Marshal(v)
		fmt.Fprintf(out, "%s %s\n", prefix, b)
		out.Flush()
	}

	var (
		conns            = make([]net.Conn, sp.Conns)
		dials, holders   sync.WaitGroup
		mu               sync.Mutex
		ready            idleReady
		status           idleStatus
		open, closed     atomic.Int64
		pings            atomic.Int64
		sem              = make(chan struct{}, max(sp.Concurrency, 1))
		payload          = make([]byte, sp.Payload)
		stopping         atomic.Bool
		t0               = time.Now()
		recordDialFailed = func(i int, err error) {
			mu.Lock()
			if ready.Failed == 0 {
				ready.Err = fmt.Sprintf("conn #%d: %v", i, err)
			}
			ready.Failed++
			mu.Unlock()
		}
	)
	for i := range conns {
		sem <- struct{}{}
		dials.Add(1)
		go func() {
			defer dials.Done()
			c, fr, bw, err := idleDial(&sp, i, payload)
			<-sem
			if err != nil {
				recordDialFailed(i, err)
				return
			}
			conns[i] = c
			open.Add(1)
			holders.Add(1)
			go func() {
				defer holders.Done()
				err := idleHold(fr, bw, &pings)
				open.Add(-1)
				if stopping.Load() {
					return
				}
				mu.Lock()
				if closed.Add(1) == 1 {
					status.Err = fmt.Sprintf("conn #%d: %v", i, err)
				}
				mu.Unlock()
			}()
		}()
	}
	dials.Wait()
	ready.Open = int(open.Load())
	ready.ElapsedNS = int64(time.Since(t0))
	emit("ready", &ready)

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if in.Text() == "status" {
			mu.Lock()
			st := status
			mu.Unlock()
			st.Open, st.Closed, st.Pings = open.Load(), closed.Load(), pings.Load()
			emit("status", &st)
		}
	}
	stopping.Store(true)
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
	holders.Wait()
}

// idleDial connects peer i: hello, hello-ack, one request and its response.
func idleDial(sp *idleSpec, i int, payload []byte) (net.Conn, *frameReader, *bufio.Writer, error) {
	c, err := net.DialTimeout("tcp", sp.Addr, 10*time.Second)
	if err != nil {
		return nil, nil, nil, err
	}
	fail := func(err error) (net.Conn, *frameReader, *bufio.Writer, error) {
		c.Close()
		return nil, nil, nil, err
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fr := newFrameReader(c, 4096)
	bw := bufio.NewWriterSize(c, 4096)
	id := proto.PeerID{Name: "idle" + strconv.Itoa(i), Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(sp.BasePort+i))}
	_, _ = bw.Write(helloFrame(codec.KindHello, 0, id, randNonce()))
	f, _, err := fr.next(bw)
	if err == nil {
		err = checkAck(f)
	}
	if err != nil {
		return fail(err)
	}
	var hdr [codec.HeaderSize]byte
	codec.PutHeader(hdr[:], codec.KindRequest, 0, 0, 1, len(payload))
	_, _ = bw.Write(hdr[:])
	_, _ = bw.Write(payload)
	if f, _, err = fr.next(bw); err != nil {
		return fail(err)
	}
	if f.Kind != codec.KindResponse || f.ID != 1 || len(f.Payload) != len(payload) {
		return fail(fmt.Errorf("got %s id %d (%d bytes), want response id 1", f.Kind, f.ID, len(f.Payload)))
	}
	_ = c.SetDeadline(time.Time{})
	return c, fr, bw, nil
}

// idleHold keeps a connection open, answering pings, until it fails.
func idleHold(fr *frameReader, bw *bufio.Writer, pings *atomic.Int64) error {
	var hdr [codec.HeaderSize]byte
	for {
		f, _, err := fr.next(bw)
		if err != nil {
			return err
		}
		switch f.Kind {
		case codec.KindPing:
			pings.Add(1)
			codec.PutHeader(hdr[:], codec.KindPong, 0, 0, f.ID, 0)
			_, _ = bw.Write(hdr[:])
		case codec.KindPong:
		default:
			return fmt.Errorf("unexpected %s frame while idle", f.Kind)
		}
	}
}
