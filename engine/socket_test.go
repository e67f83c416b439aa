package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gerrors "github.com/panjf2000/gnet/v2/pkg/errors"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/panjf2000/gnet/v2"

	"github.com/antnet-p2p/antnet/internal/acceptor"
	"github.com/antnet-p2p/antnet/internal/testkit"
	"github.com/antnet-p2p/antnet/proto"
)

// openFDs counts the process's open descriptors.
func openFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	return len(ents)
}

// gnetPool lists gnet's process-wide ants pool goroutines, which outlive
// any node.
var gnetPool = []goleak.Option{
	goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*goWorker).run.func1"),
	goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).purgeStaleWorkers"),
	goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).ticktock"),
}

// settled waits until the process is back to baseFDs descriptors and no
// goroutine but the test's own is left.
func settled(t *testing.T, baseFDs int) {
	t.Helper()
	n := 0
	if !testkit.Poll(5*time.Second, 10*time.Millisecond, func() bool { n = openFDs(t); return n <= baseFDs }) {
		t.Fatalf("%d descriptors open, %d before", n, baseFDs)
	}
	goleak.VerifyNone(t, append(gnetPool, goleak.IgnoreCurrent())...)
}

// blackHole returns a loopback address whose SYNs are dropped: a listening
// socket with a backlog of 0 that never accepts, its queue filled by one
// connection. Dials to it hang until their timeout, as to a dark host.
func blackHole(t *testing.T) string {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	addr, _ := listenBlackHole(t, fd)
	return addr
}

// blackHoleAt is blackHole on a given port (one a closed node used). It
// returns how many descriptors the black hole holds.
func blackHoleAt(t *testing.T, port int) (fds int) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: port}); err != nil {
		t.Fatal(err)
	}
	_, fds = listenBlackHole(t, fd)
	return fds
}

// listenBlackHole makes fd a listener whose queue is full, and returns its
// address and the descriptors it holds (the listener and the fillers).
func listenBlackHole(t *testing.T, fd int) (addr string, fds int) {
	t.Helper()
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := unix.Getsockname(fd)
	addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*unix.SockaddrInet4).Port))
	var fillers []net.Conn
	for {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			break // the queue is full: SYNs are dropped from now on
		}
		fillers = append(fillers, c)
		if len(fillers) > 8 {
			t.Fatal("the listen queue never filled")
		}
	}
	t.Cleanup(func() {
		for _, c := range fillers {
			_ = c.Close()
		}
		_ = unix.Close(fd)
	})
	return addr, 1 + len(fillers)
}

// AddRoute to a dark host fails within the dial timeout, not the kernel's
// SYN timeout, and leaves no descriptor or goroutine.
func TestDialTimeoutBlackHole(t *testing.T) {
	hole := blackHole(t)
	base := openFDs(t)
	a, _ := New("a", "127.0.0.1:0", nil, WithDialTimeout(200*time.Millisecond))
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		start := time.Now()
		err := a.AddRoute("x", hole)
		took := time.Since(start)
		if !errors.Is(err, ErrDial) || !errors.Is(err, ErrTimeout) {
			t.Fatalf("AddRoute to a black hole: %v", err)
		}
		if took < 150*time.Millisecond || took > time.Second {
			t.Fatalf("AddRoute to a black hole took %v, want about the 200ms dial timeout", took)
		}
	}
	_ = a.Close()
	settled(t, base)
}

// A static route whose peer went dark is redialed on the backoff schedule:
// each attempt gives up at the dial timeout.
func TestRedialBlackHoleFollowsBackoff(t *testing.T) {
	base := openFDs(t)
	b, _ := New("b", "127.0.0.1:0", echo)
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	a, _ := New("a", "127.0.0.1:0", nil, WithDialTimeout(200*time.Millisecond), WithRedialBackoff(100*time.Millisecond), WithRedialMaxBackoff(100*time.Millisecond))
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	linkNodes(t, a, b)
	port := b.reactor.ln.Addr().(*net.TCPAddr).Port
	_ = b.Close()
	holeFDs := blackHoleAt(t, port) // counted, not measured: a's redials open and close sockets meanwhile
	eventually(t, 2*time.Second, "the link to drop", func() bool { return liveLinks(a) == 0 })
	// The time k attempts take, from the start of one to the start of the
	// k-th after it. One attempt per backoff (~100ms) plus dial timeout
	// (200ms): about 300ms each; between 1/6 s and 1/2 s passes. gnet's
	// Register dialed with no deadline: one per SYN timeout (>= 1s).
	const k = 5
	const fastest, slowest = k * time.Second / 6, k * time.Second / 2
	r0 := a.Stats().Redials
	eventually(t, slowest, "a redial", func() bool { return a.Stats().Redials > r0 })
	r1, start := a.Stats().Redials, time.Now()
	if !testkit.Poll(slowest, testkit.Every, func() bool { return a.Stats().Redials >= r1+k }) {
		t.Fatalf("%d redials in %v, want %d: about one per 300ms", a.Stats().Redials-r1, slowest, k)
	}
	took := time.Since(start)
	if took < fastest {
		t.Fatalf("%d redials in %v, want about one per 300ms", a.Stats().Redials-r1, took)
	}
	t.Logf("%d redials in %v", k, took)
	_ = a.Close()
	settled(t, base+holeFDs)
}

// Close while AddRoute, Delete and short-mode Dispatch loops dial live and
// dark peers leaves no goroutine and no descriptor behind.
func TestCloseWhileDialing(t *testing.T) {
	hole := blackHole(t)
	base := openFDs(t)
	peer, _ := New("p", "127.0.0.1:0", echo)
	if err := peer.Start(); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []Mode{Persistent, Short} {
		for round := range 3 {
			n, _ := New("n", "127.0.0.1:0", nil, WithMode(mode), WithDialTimeout(time.Second))
			if err := n.Start(); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			var calls atomic.Int64
			for i := range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					addr := peer.Addr()
					if i%3 == 2 {
						addr = hole
					}
					for {
						var err error
						if mode == Short && i%2 == 0 {
							_ = n.AddRoute("p", addr)
							_, err = n.Dispatch(addr, []byte("x"))
						} else {
							err = n.AddRoute("p", addr)
							_ = n.Delete(addr)
						}
						calls.Add(1)
						if errors.Is(err, ErrClosed) || n.checkRunning() != nil {
							return
						}
					}
				}()
			}
			eventually(t, 5*time.Second, "dials under way", func() bool { return calls.Load() > int64(10*(round+1)) })
			if err := n.Close(); err != nil {
				t.Fatal(err)
			}
			wg.Wait()
		}
	}
	_ = peer.Close()
	settled(t, base)
}

// A full node answers the dialer with the reason, which AddRoute reports
// as ErrRefused: the connection cap and the pending-handshake cap.
func TestLimitsAnswerTheDialer(t *testing.T) {
	t.Run("connections", func(t *testing.T) {
		s := startNode(t, "s", echo, WithMaxConns(1), WithMaxPendingHandshakes(100), WithMaxInFlight(100))
		a := startNode(t, "a", nil)
		linkNodes(t, a, s)
		b := startNode(t, "b", nil)
		err := b.AddRoute("s", s.Addr())
		mustErrIs(t, err, ErrRefused)
		if !strings.Contains(err.Error(), msgMaxConns) {
			t.Fatalf("refusal without its reason: %v", err)
		}
		if s.Stats().Refused == 0 {
			t.Fatal("refusal not counted")
		}
	})
	t.Run("handshakes", func(t *testing.T) {
		s := startNode(t, "s", echo, WithMaxConns(100), WithMaxPendingHandshakes(1), WithMaxInFlight(100))
		mute, err := net.Dial("tcp", s.Addr()) // never says hello
		if err != nil {
			t.Fatal(err)
		}
		defer mute.Close()
		eventually(t, 2*time.Second, "the mute socket to hold the slot", func() bool { return s.stats.Handshaking.Load() == 1 })
		b := startNode(t, "b", nil)
		err = b.AddRoute("s", s.Addr())
		mustErrIs(t, err, ErrRefused)
		if !strings.Contains(err.Error(), msgMaxHandshakes) {
			t.Fatalf("refusal without its reason: %v", err)
		}
	})
}

// Shutdown lets the requests the node is serving be answered: deferred on
// the loop, or on a worker.
func TestShutdownAnswersRequestsBeingServed(t *testing.T) {
	for _, workers := range []int{0, 2} {
		release := make(chan struct{})
		h := proto.HandlerFunc(func(ctx proto.Context, msg []byte) ([]byte, error) {
			if workers > 0 {
				<-release // a worker may block
				return []byte("late"), nil
			}
			r := ctx.Defer()
			go func() { <-release; _ = r.Send([]byte("late"), nil) }()
			return nil, nil
		})
		var opts []Option
		if workers > 0 {
			opts = append(opts, WithWorkers(workers), WithWorkerQueue(8))
		}
		srv, _ := New("srv", "127.0.0.1:0", h, opts...)
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		cli := startNode(t, "cli", nil)
		linkNodes(t, cli, srv)
		got := make(chan error, 1)
		go func() {
			reply, err := cli.Dispatch("srv", []byte("x"))
			if err == nil && string(reply) != "late" {
				err = errors.New("reply " + string(reply))
			}
			got <- err
		}()
		eventually(t, 2*time.Second, "the request being served", func() bool { return srv.stats.Serving.Load() == 1 })
		done := make(chan struct{})
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			_ = srv.Shutdown(ctx)
			close(done)
		}()
		eventually(t, time.Second, "closing", func() bool { return srv.life.state.Load() >= nodeClosing })
		close(release)
		if err := <-got; err != nil {
			t.Fatalf("workers=%d: request served during Shutdown: %v", workers, err)
		}
		<-done
	}
}

// A worker stuck in the handler does not hold Shutdown past its context.
func TestStuckWorkerDoesNotHoldShutdown(t *testing.T) {
	stuck := make(chan struct{})
	defer close(stuck)
	entered := make(chan struct{}, 1)
	h := proto.HandlerFunc(func(proto.Context, []byte) ([]byte, error) {
		entered <- struct{}{}
		<-stuck
		return nil, nil
	})
	srv, _ := New("srv", "127.0.0.1:0", h, WithWorkers(1), WithWorkerQueue(1))
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	cli := startNode(t, "cli", nil, WithTimeout(10*time.Second))
	linkNodes(t, cli, srv)
	go func() { _, _ = cli.Dispatch("srv", nil) }()
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_ = srv.Shutdown(ctx)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Shutdown took %v with a 300ms context", d)
	}
	mustErrIs(t, srv.AddRoute("x", "127.0.0.1:9"), ErrClosed)
}

// Close does not wait for a worker stuck in the handler, and says so in the
// log; idle workers exit without a word.
func TestCloseLeavesBusyWorkerBehind(t *testing.T) {
	stuck := make(chan struct{})
	defer close(stuck)
	entered := make(chan struct{}, 1)
	h := proto.HandlerFunc(func(_ proto.Context, msg []byte) ([]byte, error) {
		if string(msg) == "stuck" {
			entered <- struct{}{}
			<-stuck
		}
		return msg, nil
	})
	for _, busy := range []bool{false, true} {
		rec := newRecorder()
		srv := startNode(t, "srv", h, WithWorkers(2), WithLogger(slog.New(rec)))
		cli := startNode(t, "cli", nil)
		linkNodes(t, cli, srv)
		if _, err := cli.Dispatch("srv", []byte("ok")); err != nil {
			t.Fatal(err)
		}
		if busy {
			go func() { _, _ = cli.Dispatch("srv", []byte("stuck")) }()
			<-entered
		}
		start := time.Now()
		if err := srv.Close(); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took > time.Second {
			t.Fatalf("busy=%v: Close took %v", busy, took)
		}
		if warned := len(rec.records(busyWorkerMsg)) > 0; warned != busy {
			t.Fatalf("busy=%v: logged a busy worker: %v\n%s", busy, warned, rec.dump())
		}
	}
}

// A reactor that stops by itself closes the node: calls fail with ErrClosed
// and the peer goes down.
func TestReactorDeathClosesNode(t *testing.T) {
	var downs atomic.Int32
	a := startNode(t, "a", echo, WithEventLoops(1), WithPeerEvents(func(ev PeerEvent) {
		if !ev.Up {
			downs.Add(1)
		}
	}))
	b := startNode(t, "b", echo)
	linkNodes(t, a, b)
	var c gnet.Conn
	a.conns.Range(func(pc *peerConn) bool { c = pc.Conn(); return false })
	// Stop the loop from inside, as an internal error would.
	_ = c.EventLoop().Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
		return gerrors.ErrEngineShutdown
	}))
	eventually(t, 3*time.Second, "the node to close", func() bool { return a.life.state.Load() == nodeClosed })
	mustErrIs(t, a.AddRoute("c", "127.0.0.1:9"), ErrClosed)
	_, err := a.Dispatch("b", nil)
	mustErrIs(t, err, ErrClosed)
	_, err = a.Broadcast(nil)
	mustErrIs(t, err, ErrClosed)
	if downs.Load() != 1 {
		t.Fatalf("%d peer-down events, want 1", downs.Load())
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
}

// Every peer socket, accepted or dialed, carries TCP_USER_TIMEOUT at the
// dead-peer timeout.
func TestPeerSocketsHaveUserTimeout(t *testing.T) {
	a := startNode(t, "a", nil, WithKeepalive(time.Second), WithDeadPeerTimeout(3*time.Second))
	b := startNode(t, "b", echo, WithKeepalive(time.Second), WithDeadPeerTimeout(4*time.Second))
	linkNodes(t, a, b)
	eventually(t, 2*time.Second, "b's side of the link", func() bool { return liveLinks(b) == 1 })
	for _, tc := range []struct {
		n    *Node
		want int
	}{{a, 3000}, {b, 4000}} {
		tc.n.conns.Range(func(pc *peerConn) bool {
			v, err := unix.GetsockoptInt(pc.Conn().Fd(), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT)
			if err != nil || v != tc.want {
				t.Errorf("%s (outbound %v): TCP_USER_TIMEOUT = %d, %v; want %d", tc.n.ID(), pc.Outbound(), v, err, tc.want)
			}
			return true
		})
	}
}

// fdChildEnv makes TestOutOfDescriptorsChild run: it is the node the parent
// test starves of descriptors.
const fdChildEnv = "ANTNET_TEST_FD_CHILD"

// A node out of descriptors keeps serving its links, counts the failed
// accepts, and takes new peers again once descriptors free up. The node
// runs in a child process with a low RLIMIT_NOFILE.
func TestOutOfDescriptors(t *testing.T) {
	if os.Getenv(fdChildEnv) != "" {
		t.Skip("in the child")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestOutOfDescriptorsChild$")
	cmd.Env = append(os.Environ(), fdChildEnv+"=1")
	cmd.Stderr = os.Stderr
	child := testkit.StartProc(t, "the descriptor child", cmd)
	defer func() {
		_ = child.CloseInput()
		if err := child.Wait(); err != nil {
			t.Errorf("child: %v", err)
		}
	}()
	addr := strings.TrimPrefix(child.Await(t, 30*time.Second, "ADDR "), "ADDR ")
	acceptErrors := func(n *Node) int {
		reply, err := n.Dispatch("s", []byte("stats"))
		if err != nil {
			t.Fatalf("the existing link: %v", err)
		}
		v, _ := strconv.Atoi(string(reply))
		return v
	}
	a := startNode(t, "a", nil)
	if err := a.AddRoute("s", addr); err != nil {
		t.Fatal(err)
	}
	// Exhaust the child's descriptors with sockets that never say hello.
	var raw []net.Conn
	defer func() {
		for _, c := range raw {
			_ = c.Close()
		}
	}()
	for range 64 {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			t.Fatal(err) // the kernel completes the handshake: the backlog has room
		}
		raw = append(raw, c)
	}
	eventually(t, 5*time.Second, "accept errors", func() bool { return acceptErrors(a) >= 3 })
	for range 20 {
		if reply, err := a.Dispatch("s", []byte("x")); err != nil || string(reply) != "echo:x" {
			t.Fatalf("the existing link while out of descriptors: %q %v", reply, err)
		}
	}
	errs := acceptErrors(a)
	for _, c := range raw {
		_ = c.Close()
	}
	raw = nil
	c := startNode(t, "c", nil, WithDialTimeout(500*time.Millisecond))
	eventually(t, 10*time.Second, "a new peer to get in", func() bool { return c.AddRoute("s", addr) == nil })
	if reply, err := c.Dispatch("s", []byte("y")); err != nil || string(reply) != "echo:y" {
		t.Fatalf("the new peer: %q %v", reply, err)
	}
	t.Logf("%d accept errors counted while out of descriptors", errs)
}

func TestOutOfDescriptorsChild(t *testing.T) {
	if os.Getenv(fdChildEnv) == "" {
		t.Skip("runs in the child process of TestOutOfDescriptors")
	}
	var sp atomic.Pointer[Node]
	h := proto.HandlerFunc(func(ctx proto.Context, msg []byte) ([]byte, error) {
		if string(msg) == "stats" {
			return []byte(strconv.FormatUint(sp.Load().Stats().AcceptErrors, 10)), nil
		}
		return echo(ctx, msg)
	})
	s := startNode(t, "s", h, WithEventLoops(1), WithHandshakeTimeout(time.Minute))
	sp.Store(s)
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	lim.Cur = uint64(openFDs(t) + 16)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	fmt.Println("ADDR " + s.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin) // until the parent is done
}

// netnsChildEnv makes TestUserTimeoutChild run, in a network namespace of
// its own.
const netnsChildEnv = "ANTNET_TEST_NETNS_CHILD"

// A write to a peer whose link is cut fails within the dead-peer timeout
// through TCP_USER_TIMEOUT alone (keepalive off): the child cuts loopback in
// a network namespace of its own.
func TestUserTimeoutCutLink(t *testing.T) {
	if os.Getenv(netnsChildEnv) != "" {
		t.Skip("in the child")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a network namespace")
	}
	unshare, err1 := exec.LookPath("unshare")
	_, err2 := exec.LookPath("ip")
	if err1 != nil || err2 != nil {
		t.Skip("needs unshare and ip")
	}
	cmd := exec.Command(unshare, "--net", "--", os.Args[0], "-test.run=^TestUserTimeoutChild$", "-test.v")
	cmd.Env = append(os.Environ(), netnsChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	if strings.Contains(string(out), "SKIP") {
		t.Skipf("child skipped: %s", out)
	}
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "detected") {
			t.Log(strings.TrimSpace(l))
		}
	}
}

func TestUserTimeoutChild(t *testing.T) {
	if os.Getenv(netnsChildEnv) == "" {
		t.Skip("runs in the child process of TestUserTimeoutCutLink")
	}
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Skipf("ip link set lo up: %v %s", err, out)
	}
	const dead = time.Second
	down := make(chan time.Time, 1)
	a := startNode(t, "a", nil, WithKeepalive(0), WithDeadPeerTimeout(dead), WithPeerEvents(func(ev PeerEvent) {
		if !ev.Up {
			down <- time.Now()
		}
	}))
	b := startNode(t, "b", echo, WithKeepalive(0), WithDeadPeerTimeout(dead))
	linkNodes(t, a, b)
	if out, err := exec.Command("ip", "link", "set", "lo", "down").CombinedOutput(); err != nil {
		t.Fatalf("ip link set lo down: %v %s", err, out)
	}
	start := time.Now()
	if err := a.Send("b", []byte("into the void")); err != nil {
		t.Fatal(err)
	}
	select {
	case at := <-down:
		took := at.Sub(start)
		if took < dead/2 {
			t.Fatalf("link dropped after %v, before the %v user timeout", took, dead)
		}
		t.Logf("cut link detected after %v (dead-peer timeout %v, keepalive off)", took.Round(time.Millisecond), dead)
	case <-time.After(10 * dead):
		t.Fatalf("the cut link was not detected within %v", 10*dead)
	}
}

// The listener accepts without TCP keepalive (short connections live one
// exchange); an accepted socket whose hello asks for a persistent link gets
// it, as every dialed one does.
func TestAcceptedPersistentSocketsKeepAlive(t *testing.T) {
	a := startNode(t, "a", nil)
	b := startNode(t, "b", echo)
	linkNodes(t, a, b)
	eventually(t, 2*time.Second, "b's side of the link", func() bool { return liveLinks(b) == 1 })
	for _, n := range []*Node{a, b} {
		n.conns.Range(func(pc *peerConn) bool {
			on, err := unix.GetsockoptInt(pc.Conn().Fd(), unix.SOL_SOCKET, unix.SO_KEEPALIVE)
			idle, err2 := unix.GetsockoptInt(pc.Conn().Fd(), unix.IPPROTO_TCP, unix.TCP_KEEPIDLE)
			if err != nil || err2 != nil || on != 1 || idle != acceptor.KeepaliveIdle {
				t.Errorf("%s (outbound %v): SO_KEEPALIVE = %d, TCP_KEEPIDLE = %d (%v, %v); want 1, %d",
					n.ID(), pc.Outbound(), on, idle, err, err2, acceptor.KeepaliveIdle)
			}
			return true
		})
	}
}

// A second AddRoute to a route whose dial is in flight waits for that dial
// and, when it times out, says so: ErrDial and ErrTimeout, with the cause.
func TestAwaitedDialKeepsItsCause(t *testing.T) {
	hole := blackHole(t)
	a := startNode(t, "a", nil, WithDialTimeout(300*time.Millisecond))
	first := make(chan error, 1)
	go func() { first <- a.AddRoute("x", hole) }()
	eventually(t, time.Second, "the first dial in flight", func() bool {
		e := a.routes.table.Get(hole)
		return e != nil && a.routes.dialInFlight(e)
	})
	second := a.AddRoute("x", hole)
	for i, err := range []error{<-first, second} {
		if !errors.Is(err, ErrDial) || !errors.Is(err, ErrTimeout) {
			t.Fatalf("AddRoute %d: %v, want ErrDial and ErrTimeout", i+1, err)
		}
	}
	if !strings.Contains(second.Error(), "the dial in flight failed") {
		t.Fatalf("the second AddRoute does not say it waited for the first dial: %v", second)
	}
}
