package engine

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/proto"
)

// timeWaits counts the TIME_WAIT sockets of the connections to the
// listening port port in /proc/net/tcp and tcp6: held by the acceptor
// (local port = port) and by the dialers (remote port = port).
func timeWaits(t *testing.T, port int) (acceptor, dialer int) {
	return portSockets(t, port, func(st string) bool { return st == "06" })
}

// portSockets counts the sockets in a state st for which in(st) holds,
// with local port = port (acceptor) or remote port = port (dialer).
func portSockets(t *testing.T, port int, in func(st string) bool) (acceptor, dialer int) {
	t.Helper()
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(file)
		if err != nil {
			if file == "/proc/net/tcp" {
				t.Skipf("no %s: %v", file, err)
			}
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// sl local_address rem_address st ...; addresses are hex ip:port
			fields := strings.Fields(sc.Text())
			if len(fields) < 4 || !in(fields[3]) { // 06: TIME_WAIT, 0A: LISTEN
				continue
			}
			if hexPort(fields[1]) == port {
				acceptor++
			}
			if hexPort(fields[2]) == port {
				dialer++
			}
		}
		_ = f.Close()
	}
	return acceptor, dialer
}

func hexPort(addr string) int {
	i := strings.LastIndexByte(addr, ':')
	p, err := strconv.ParseUint(addr[i+1:], 16, 16)
	if i < 0 || err != nil {
		return -1
	}
	return int(p)
}

// The acceptor of a short-mode connection closes first, so the TIME_WAIT
// stays on its side and a dialer sending many short requests keeps its
// ephemeral ports free (PROTOCOL.md, "Short mode"): whether the acceptor
// serves from its accept goroutine (a short-mode node), from a loop (a
// node with workers, a persistent node), or the dialer reads on a loop
// (DispatchAll).
func TestShortTimeWaitStaysWithTheAcceptor(t *testing.T) {
	const N = 20
	cases := []struct {
		name string
		srv  []Option
		all  bool // DispatchAll: the dialer's loop reads the answer
	}{
		{"inline", []Option{WithMode(Short)}, false},
		{"workers", []Option{WithMode(Short), WithWorkers(2)}, false},
		{"persistent acceptor", nil, false},
		{"DispatchAll", []Option{WithMode(Short)}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			overflows := timeWaitOverflows(t)
			defer func() {
				// A host whose TIME_WAIT table is full (tcp_max_tw_buckets:
				// another process made that many short connections within
				// the last minute) closes sockets without TIME_WAIT: the
				// counts above then say nothing either way.
				if t.Failed() && timeWaitOverflows(t) != overflows {
					t.Log("the host's TIME_WAIT table overflowed during the test (TcpExt TCPTimeWaitOverflow grew): run it again on a quieter host")
				}
			}()
			// A port with no connection left by an earlier test that
			// listened there (Go's listeners bind with SO_REUSEADDR): none
			// in TIME_WAIT, none still closing.
			var srv *Node
			var port int
			for try := 0; ; try++ {
				srv = startNode(t, "srv", echo, tc.srv...)
				_, p, _ := net.SplitHostPort(srv.Addr())
				port, _ = strconv.Atoi(p)
				if acc, dial := portSockets(t, port, func(st string) bool { return st != "0A" }); acc+dial == 0 {
					break
				} else if try == 10 {
					t.Fatalf("no listening port free of TIME_WAIT in %d tries", try)
				}
			}
			cli := startNode(t, "cli", nil, WithMode(Short))
			linkNodes(t, cli, srv)
			for i := range N {
				if tc.all {
					if r := cli.DispatchAll([]byte("x"))[srv.ID().String()]; r.Err != nil {
						t.Fatalf("DispatchAll %d: %v", i, r.Err)
					}
				} else if _, err := cli.Dispatch("srv", []byte("x")); err != nil {
					t.Fatalf("Dispatch %d: %v", i, err)
				}
			}
			eventually(t, 2*time.Second, "the short sockets to close", func() bool {
				return cli.Stats().Conns == 0 && srv.Stats().Conns == 0
			})
			var acc, dial int
			eventually(t, 2*time.Second, "every exchange's TIME_WAIT", func() bool {
				acc, dial = timeWaits(t, port)
				return acc+dial >= N
			})
			t.Logf("%d short requests: TIME_WAIT on the acceptor %d, on the dialer %d", N, acc, dial)
			if dial != 0 || acc < N {
				t.Fatalf("TIME_WAIT: acceptor %d, dialer %d; want %d or more (sockets other processes had on this port may add) and 0", acc, dial, N)
			}
		})
	}
}

// timeWaitOverflows reads TcpExt TCPTimeWaitOverflow: sockets closed
// without TIME_WAIT because the table was full.
func timeWaitOverflows(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/net/netstat")
	if err != nil {
		return ""
	}
	var names []string
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, "TcpExt:") {
			continue
		}
		if names == nil {
			names = strings.Fields(l)
			continue
		}
		for i, v := range strings.Fields(l) {
			if i < len(names) && names[i] == "TCPTimeWaitOverflow" {
				return v
			}
		}
	}
	return ""
}

// A short-mode acceptor closes its end first, once the answer is out: the
// dialer reads hello-ack, the answer, then end of stream, before it closes
// anything.
func TestShortAcceptorClosesFirst(t *testing.T) {
	for _, opts := range [][]Option{{WithMode(Short)}, {WithMode(Short), WithWorkers(1)}} {
		srv := startNode(t, "srv", echo, opts...)
		p := dialRaw(t, srv.Addr())
		hello := proto.AppendHello(nil, proto.Hello{ID: proto.PeerID{Name: "raw", Addr: "127.0.0.1:7"}, Nonce: 7})
		b := codec.Append(nil, codec.Frame{Kind: codec.KindHello, Flags: proto.FlagShort, Payload: hello})
		b = codec.Append(b, codec.Frame{Kind: codec.KindRequest, ID: 1, Payload: []byte("q")})
		p.write(b)
		if f := p.read(); f.Kind != codec.KindHelloAck {
			t.Fatalf("got %s, want hello-ack", f.Kind)
		}
		if f := p.read(); f.Kind != codec.KindResponse || string(f.Payload) != "echo:q" {
			t.Fatalf("got %s %q, want the response", f.Kind, f.Payload)
		}
		p.closedBy(2 * time.Second)
	}
}

// A short-mode dialer does not close first: after the answer it waits for
// the acceptor's close. The acceptor here holds its end open for 100 ms
// after answering and checks that the dialer's end stays open meanwhile.
func TestShortDialerLetsTheAcceptorCloseFirst(t *testing.T) {
	ln := rawListener(t)
	cli := startNode(t, "cli", nil, WithMode(Short))
	if err := cli.AddRoute("srv", ln.Addr().String()); err != nil {
		t.Fatal(err)
	}
	for _, all := range []bool{false, true} {
		served := serveShortOnce(t, ln, func(p *rawPeer, b []byte) error {
			b = codec.Append(b, codec.Frame{Kind: codec.KindResponse, ID: 1, Payload: []byte("answer")})
			if _, err := p.c.Write(b); err != nil {
				return err
			}
			_ = p.c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			if _, err := p.r.ReadByte(); !isTimeout(err) {
				return fmt.Errorf("the dialer closed first: read %v", err)
			}
			return nil
		})
		var got []byte
		var err error
		if all {
			r := cli.DispatchAll([]byte("q"))["srv@"+ln.Addr().String()]
			got, err = r.Reply, r.Err
		} else {
			got, err = cli.Dispatch("srv", []byte("q"))
		}
		if err != nil || string(got) != "answer" {
			t.Fatalf("DispatchAll %v: %q %v", all, got, err)
		}
		if err := <-served; err != nil {
			t.Fatalf("DispatchAll %v: %v", all, err)
		}
		eventually(t, 2*time.Second, "the dialer's socket closed", func() bool { return cli.Stats().Conns == 0 })
	}
}
