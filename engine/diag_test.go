package engine

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/internal/loglimit"
)

// logRecord is one line a recorder took: its level, message and attributes
// as text.
type logRecord struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

// recorder is a slog.Handler that keeps every record at Info and above.
type recorder struct {
	mu   *sync.Mutex
	recs *[]logRecord
	with []slog.Attr
}

func newRecorder() *recorder { return &recorder{mu: new(sync.Mutex), recs: new([]logRecord)} }

func (r *recorder) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	lr := logRecord{level: rec.Level, msg: rec.Message, attrs: map[string]string{}}
	for _, a := range r.with {
		lr.attrs[a.Key] = a.Value.String()
	}
	rec.Attrs(func(a slog.Attr) bool { lr.attrs[a.Key] = a.Value.String(); return true })
	r.mu.Lock()
	*r.recs = append(*r.recs, lr)
	r.mu.Unlock()
	return nil
}

func (r *recorder) WithAttrs(as []slog.Attr) slog.Handler {
	c := *r
	c.with = append(append([]slog.Attr(nil), r.with...), as...)
	return &c
}

func (r *recorder) WithGroup(string) slog.Handler { return r }

// records returns the records whose message is msg.
func (r *recorder) records(msg string) []logRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []logRecord
	for _, lr := range *r.recs {
		if lr.msg == msg {
			out = append(out, lr)
		}
	}
	return out
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(*r.recs)
}

func (r *recorder) dump() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, lr := range *r.recs {
		fmt.Fprintf(&b, "%s %q %v\n", lr.level, lr.msg, lr.attrs)
	}
	return b.String()
}

const refusedMsg = "refused connection"

// Each kind of bad socket costs the accepting node exactly one line, at the
// documented level, naming the socket's remote address and the reason.
func TestRefusalLoggedOnce(t *testing.T) {
	frame := func(k codec.Kind, payload []byte) []byte {
		return codec.Append(nil, codec.Frame{Kind: k, Payload: payload})
	}
	badVersion := codec.AppendHeader(nil, codec.KindHello, 0, 0, 0, 0)
	badVersion[4] = 9
	for _, tc := range []struct {
		name   string
		opts   []Option
		send   func(n *Node) []byte // nil: stay silent
		level  slog.Level
		reason string
	}{
		{"http request", nil, func(*Node) []byte { return []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n") },
			slog.LevelWarn, `another protocol (starts with "GET / HT")`},
		{"huge length", nil, func(*Node) []byte { return []byte{0x7f, 0xff, 0xff, 0xff, 1} },
			slog.LevelWarn, "frame of 2.1 GB"},
		{"short length", nil, func(*Node) []byte { return []byte{0, 0, 0, 1} },
			slog.LevelWarn, "malformed first frame"},
		{"wrong version", nil, func(*Node) []byte { return badVersion },
			slog.LevelWarn, "wire version 9"},
		{"request before hello", nil, func(*Node) []byte { return frame(codec.KindRequest, []byte("x")) },
			slog.LevelWarn, "got request, want hello"},
		{"hello claiming the node's address", nil, func(n *Node) []byte {
			return frame(codec.KindHello, rawHello("liar", n.Addr(), 1))
		}, slog.LevelWarn, "claims this node's address"},
		{"plain hello to a secure node", []Option{WithIdentity(newIdentity(t))}, func(*Node) []byte {
			return frame(codec.KindHello, rawHello("plain", "127.0.0.1:1", 1))
		}, slog.LevelWarn, "secure/plain mismatch"},
		{"secure message to a plain node", nil, func(*Node) []byte { return frame(codec.KindSecure, make([]byte, 32)) },
			slog.LevelWarn, "secure/plain mismatch"},
		{"silent socket", []Option{WithHandshakeTimeout(200 * time.Millisecond)}, nil,
			slog.LevelInfo, "no handshake"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder()
			srv := startNode(t, "srv", echo, append(tc.opts, WithLogger(slog.New(rec)))...)
			p := dialRaw(t, srv.Addr())
			if tc.send != nil {
				p.write(tc.send(srv))
			}
			p.closedBy(3 * time.Second)
			_ = srv.Close() // every callback has run: no line can follow
			got := rec.records(refusedMsg)
			if len(got) != 1 {
				t.Fatalf("%d refusal lines, want 1:\n%s", len(got), rec.dump())
			}
			r := got[0]
			if r.level != tc.level || r.attrs["remote"] != p.c.LocalAddr().String() || !strings.Contains(r.attrs["reason"], tc.reason) {
				t.Fatalf("got %s remote=%s reason=%q; want %s remote=%s reason containing %q",
					r.level, r.attrs["remote"], r.attrs["reason"], tc.level, p.c.LocalAddr(), tc.reason)
			}
			if others := rec.count() - 1; others != 0 {
				t.Fatalf("%d other lines:\n%s", others, rec.dump())
			}
		})
	}
	t.Run("pending-handshake limit", func(t *testing.T) {
		rec := newRecorder()
		srv := startNode(t, "srv", echo, WithMaxPendingHandshakes(1), WithHandshakeTimeout(time.Minute), WithLogger(slog.New(rec)))
		mute := dialRaw(t, srv.Addr())
		_ = mute
		eventually(t, 2*time.Second, "the mute socket to hold the slot", func() bool { return srv.stats.Handshaking.Load() == 1 })
		p := dialRaw(t, srv.Addr())
		p.closedBy(3 * time.Second)
		_ = srv.Close()
		got := rec.records(refusedMsg)
		if len(got) != 1 || got[0].level != slog.LevelInfo || got[0].attrs["remote"] != p.c.LocalAddr().String() ||
			got[0].attrs["reason"] != msgMaxHandshakes {
			t.Fatalf("want one Info refusal of %s for %s:\n%s", msgMaxHandshakes, p.c.LocalAddr(), rec.dump())
		}
	})
	t.Run("key not admitted", func(t *testing.T) {
		rec := newRecorder()
		srv := startNode(t, "srv", echo, WithIdentity(newIdentity(t)), WithAllowKeys(newIdentity(t).Public()), WithLogger(slog.New(rec)))
		cli := startNode(t, "cli", nil, WithIdentity(newIdentity(t)), WithRedialBackoff(time.Hour), WithRedialMaxBackoff(time.Hour))
		mustErrIs(t, cli.AddRoute("srv", srv.Addr()), ErrRefused)
		_ = srv.Close()
		got := rec.records(refusedMsg)
		if len(got) != 1 || got[0].level != slog.LevelInfo || !strings.HasPrefix(got[0].attrs["remote"], "127.0.0.1:") ||
			!strings.Contains(got[0].attrs["reason"], ErrNotAdmitted.Error()) {
			t.Fatalf("want one Info refusal naming %v:\n%s", ErrNotAdmitted, rec.dump())
		}
	})
}

// A flood of bad sockets costs at most the rate limit's lines, and a
// summary counts the rest: every refusal is either logged or counted.
func TestRefusalFloodIsRateLimited(t *testing.T) {
	const sockets, workers = 1000, 8
	rec := newRecorder()
	srv, err := New("srv", "127.0.0.1:0", echo, WithLogger(slog.New(rec)))
	if err != nil {
		t.Fatal(err)
	}
	srv.peerLog.Limit.SummaryEvery = 300 * time.Millisecond // the default 10s would make the test wait
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })

	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range sockets / workers {
				c, err := net.DialTimeout("tcp", srv.Addr(), time.Second)
				if err != nil {
					errs <- err
					return
				}
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				_, err = c.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
				if err == nil {
					_, err = io.Copy(io.Discard, c) // until the node closes it
				}
				_ = c.Close()
				if err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "every refusal closed", func() bool { return srv.Stats().ProtocolErrors == sockets })

	var lines int
	var suppressed uint64
	eventually(t, 5*time.Second, "the summary to account for every refusal", func() bool {
		lines, suppressed = len(rec.records(refusedMsg)), 0
		for _, s := range rec.records("log rate limit: refusals and protocol errors not logged") {
			if s.level != slog.LevelWarn {
				t.Fatalf("summary at %s", s.level)
			}
			var n uint64
			_, _ = fmt.Sscan(s.attrs["suppressed"], &n)
			suppressed += n
		}
		return uint64(lines)+suppressed == sockets
	})
	bound := loglimit.Burst + int(elapsed/loglimit.Every) + 1
	t.Logf("%d bad sockets in %v: %d refusal lines (bound %d), %d suppressed, %d summary lines",
		sockets, elapsed.Round(time.Millisecond), lines, bound, suppressed, len(rec.records("log rate limit: refusals and protocol errors not logged")))
	if lines > bound {
		t.Fatalf("%d refusal lines in %v, want at most %d:\n%s", lines, elapsed, bound, rec.dump())
	}
}

// A suppressed line costs no allocation.
func TestSuppressedRefusalDoesNotAllocate(t *testing.T) {
	n, err := New("n", "127.0.0.1:0", nil, WithLogger(slog.New(newRecorder())))
	if err != nil {
		t.Fatal(err)
	}
	cause := errors.New("bad frame")
	for range loglimit.Burst {
		n.peerLog.Refused(slog.LevelWarn, "127.0.0.1:1", cause)
	}
	if a := testing.AllocsPerRun(100, func() { n.peerLog.Refused(slog.LevelWarn, "127.0.0.1:1", cause) }); a != 0 {
		t.Fatalf("suppressed refusal: %v allocs", a)
	}
}

// The dialer's error names what answered: another protocol, a length no
// antnet node sends, or a socket closed without a word; each matches its
// sentinel and says what to check.
func TestDialerErrorNamesTheCause(t *testing.T) {
	for _, secure := range []bool{false, true} {
		var opts []Option
		if secure {
			opts = append(opts, WithIdentity(newIdentity(t)))
		}
		name := map[bool]string{false: "plain", true: "secure"}[secure]
		t.Run(name+"/http server", func(t *testing.T) {
			cli := startNode(t, "cli", nil, opts...)
			addr := fakeAcceptor(t, func([]byte) []byte {
				return []byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
			})
			err := cli.AddRoute("web", addr)
			mustErrIs(t, err, ErrProtocol)
			mustErrIs(t, err, codec.ErrFrameTooLarge)
			if !strings.Contains(err.Error(), `peer speaks another protocol (starts with "HTTP/1.1")`) {
				t.Fatalf("no hint: %v", err)
			}
		})
		t.Run(name+"/huge length", func(t *testing.T) {
			cli := startNode(t, "cli", nil, opts...)
			addr := fakeAcceptor(t, func([]byte) []byte {
				return binary.BigEndian.AppendUint32(nil, 1_200_000_000-4)
			})
			err := cli.AddRoute("big", addr)
			mustErrIs(t, err, ErrProtocol)
			mustErrIs(t, err, codec.ErrFrameTooLarge)
			if !strings.Contains(err.Error(), "frame of 1.2 GB before the handshake: not an antnet node?") {
				t.Fatalf("no hint: %v", err)
			}
		})
		t.Run(name+"/closed at once", func(t *testing.T) {
			cli := startNode(t, "cli", nil, opts...)
			ln := rawListener(t)
			closeEveryConn(ln)
			err := cli.AddRoute("mute", ln.Addr().String())
			mustErrIs(t, err, ErrHandshake)
			if !strings.Contains(err.Error(), "without saying why") || !strings.Contains(err.Error(), "see its log") {
				t.Fatalf("no hint: %v", err)
			}
		})
	}
}

// A secure/plain mismatch is named on both sides: the dialer's error and
// the acceptor's log.
func TestSecurePlainMismatchNamedOnBothSides(t *testing.T) {
	for _, dialerSecure := range []bool{false, true} {
		t.Run(fmt.Sprintf("secure dialer %v", dialerSecure), func(t *testing.T) {
			rec := newRecorder()
			srvOpts := []Option{WithLogger(slog.New(rec))}
			var cliOpts []Option
			want := msgNeedSecure
			if dialerSecure {
				cliOpts, want = append(cliOpts, WithIdentity(newIdentity(t))), msgPlainOnly
			} else {
				srvOpts = append(srvOpts, WithIdentity(newIdentity(t)))
			}
			srv := startNode(t, "srv", echo, srvOpts...)
			cli := startNode(t, "cli", nil, cliOpts...)
			err := cli.AddRoute("srv", srv.Addr())
			mustErrIs(t, err, ErrRefused)
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("dialer's error does not name the mismatch: %v", err)
			}
			eventually(t, 2*time.Second, "the acceptor's refusal line", func() bool {
				for _, r := range rec.records(refusedMsg) {
					if strings.Contains(r.attrs["reason"], "secure/plain mismatch") && strings.HasPrefix(r.attrs["remote"], "127.0.0.1:") {
						return true
					}
				}
				return false
			})
		})
	}
}
