package engine

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/proto"
	"github.com/antnet-p2p/antnet/secure"
)

func newIdentity(t testing.TB) *secure.Identity {
	t.Helper()
	id, err := secure.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestSecureRequestReply(t *testing.T) {
	ka, kb := newIdentity(t), newIdentity(t)
	var sawKey atomic.Value
	h := proto.HandlerFunc(func(ctx proto.Context, msg []byte) ([]byte, error) {
		sawKey.Store(ctx.Peer().Key)
		return append([]byte("echo:"), msg...), nil
	})
	for _, mode := range []Mode{Persistent, Short} {
		t.Run(mode.String(), func(t *testing.T) {
			a := startNode(t, "a", nil, WithIdentity(ka), WithMode(mode))
			b := startNode(t, "b", h, WithIdentity(kb), WithMode(mode))
			linkNodes(t, a, b)
			for i := range 20 {
				msg := bytes.Repeat([]byte{byte(i)}, i*500)
				got, err := a.Dispatch("b", msg)
				if err != nil || !bytes.Equal(got, append([]byte("echo:"), msg...)) {
					t.Fatalf("request %d: %d bytes, %v", i, len(got), err)
				}
			}
			if sawKey.Load() != string(ka.Public()) {
				t.Fatal("handler did not see the caller's key")
			}
			if mode == Persistent {
				p := a.Peers()
				if len(p) != 1 || p[0].Key != string(kb.Public()) || p[0].Fingerprint() == "" {
					t.Fatalf("Peers = %+v", p)
				}
				if a.ID().Key != string(ka.Public()) {
					t.Fatal("node ID lacks its key")
				}
			}
		})
	}
}

func TestSecureAdmission(t *testing.T) {
	kSrv, kFriend, kStranger := newIdentity(t), newIdentity(t), newIdentity(t)
	var handled atomic.Int32
	h := proto.HandlerFunc(func(_ proto.Context, msg []byte) ([]byte, error) {
		handled.Add(1)
		return msg, nil
	})
	srv := startNode(t, "srv", h, WithIdentity(kSrv), WithAllowKeys(kFriend.Public()))
	friend := startNode(t, "friend", nil, WithIdentity(kFriend))
	stranger := startNode(t, "stranger", nil, WithIdentity(kStranger))

	linkNodes(t, friend, srv)
	err := stranger.AddRoute("srv", srv.Addr())
	mustErrIs(t, err, ErrRefused)
	if s := srv.Stats(); s.Unadmitted != 1 {
		t.Fatalf("Unadmitted = %d", s.Unadmitted)
	}
	for _, p := range srv.Peers() {
		if p.Name == "stranger" {
			t.Fatal("a stranger reached the route table")
		}
	}
	if _, err := friend.Dispatch("srv", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if handled.Load() != 1 {
		t.Fatalf("handler ran %d times", handled.Load())
	}
	// The dialer checks the acceptor too.
	picky := startNode(t, "picky", nil, WithIdentity(newIdentity(t)), WithAllowKeys(kFriend.Public()))
	mustErrIs(t, picky.AddRoute("srv", srv.Addr()), ErrNotAdmitted)
}

func TestSecureAndPlainRefuseEachOther(t *testing.T) {
	sec := startNode(t, "sec", echo, WithIdentity(newIdentity(t)))
	plain := startNode(t, "plain", echo)
	for _, c := range [][2]*Node{{sec, plain}, {plain, sec}} {
		start := time.Now()
		err := c[0].AddRoute(c[1].ID().Name, c[1].Addr())
		mustErrIs(t, err, ErrRefused)
		if time.Since(start) > time.Second {
			t.Fatalf("%s -> %s took %v", c[0].ID().Name, c[1].ID().Name, time.Since(start))
		}
		t.Logf("%s dialing %s: %v", c[0].ID().Name, c[1].ID().Name, err)
	}
	if sec.Stats().ProtocolErrors == 0 || plain.Stats().ProtocolErrors == 0 {
		t.Fatal("the refusing side did not count it")
	}
}

// tamperProxy forwards between a client and addr, passing frames from the
// client through mangle (which sees each frame's index and may return other
// bytes). Frames from the server pass untouched.
func tamperProxy(t *testing.T, addr string, mangle func(i int, frame []byte) []byte) string {
	return frameProxy(t, addr, mangle, nil)
}

// frameProxy is a man in the middle between a client and addr: frames from
// the client pass through up, frames from the server through down (each
// sees a frame's index in its direction and may return other bytes); a nil
// func passes bytes untouched.
func frameProxy(t *testing.T, addr string, up, down func(i int, frame []byte) []byte) string {
	t.Helper()
	ln := rawListener(t)
	pipe := func(dst, src net.Conn, mangle func(i int, frame []byte) []byte) {
		defer dst.Close()
		if mangle == nil {
			_, _ = io.Copy(dst, src)
			return
		}
		r := newReader(src)
		for i := 0; ; i++ {
			var hdr [codec.HeaderSize]byte
			if _, err := io.ReadFull(r, hdr[:]); err != nil {
				return
			}
			size, _ := codec.FrameLen(hdr[:], 0)
			frame := make([]byte, size)
			copy(frame, hdr[:])
			if _, err := io.ReadFull(r, frame[codec.HeaderSize:]); err != nil {
				return
			}
			if _, err := dst.Write(mangle(i, frame)); err != nil {
				return
			}
		}
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", addr)
			if err != nil {
				_ = c.Close()
				return
			}
			go pipe(c, s, down)
			go pipe(s, c, up)
		}
	}()
	return ln.Addr().String()
}

func TestSecureTampering(t *testing.T) {
	// Client frames: 0 and 1 are the Noise handshake, 2 is hello, 3 on are requests.
	var held []byte
	cases := map[string]func(i int, f []byte) []byte{
		"flipped byte": func(i int, f []byte) []byte {
			if i == 3 {
				f[len(f)-1] ^= 0x40
			}
			return f
		},
		"replayed frame": func(i int, f []byte) []byte {
			if i == 3 {
				return append(append([]byte{}, f...), f...)
			}
			return f
		},
		"reordered frames": func(i int, f []byte) []byte {
			switch i {
			case 3:
				held = f
				return nil
			case 4:
				return append(f, held...)
			}
			return f
		},
	}
	for name, mangle := range cases {
		t.Run(name, func(t *testing.T) {
			var handled atomic.Int32
			h := proto.HandlerFunc(func(ctx proto.Context, msg []byte) ([]byte, error) {
				if ctx.Peer().Name == "victim" {
					handled.Add(1)
				}
				return append([]byte("echo:"), msg...), nil
			})
			srv := startNode(t, "srv", h, WithIdentity(newIdentity(t)))
			other := startNode(t, "other", nil, WithIdentity(newIdentity(t)))
			linkNodes(t, other, srv)
			victim := startNode(t, "victim", nil, WithIdentity(newIdentity(t)), WithTimeout(2*time.Second))
			// The second request leaves only once the proxy holds the first:
			// two frames, never one batch.
			first := make(chan struct{})
			var once sync.Once
			proxy := tamperProxy(t, srv.Addr(), func(i int, f []byte) []byte {
				if i == 3 {
					once.Do(func() { close(first) })
				}
				return mangle(i, f)
			})
			if err := victim.AddRoute("srv", proxy); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			for k := range 2 {
				wg.Add(1)
				go func() { defer wg.Done(); _, _ = victim.Dispatch("srv", []byte("x")) }()
				if k == 0 {
					select {
					case <-first:
					case <-time.After(5 * time.Second):
						t.Fatal("the first request never reached the proxy")
					}
				}
			}
			wg.Wait()
			eventually(t, 2*time.Second, "tampered link closed", func() bool { return srv.Stats().Tampered == 1 })
			if n := handled.Load(); n > 1 {
				t.Fatalf("handler saw %d frames from the tampered link", n)
			}
			if got, err := other.Dispatch("srv", []byte("fine")); err != nil || string(got) != "echo:fine" {
				t.Fatalf("other peer affected: %q %v", got, err)
			}
		})
	}
}

func TestSecureCrossedGossipReconnect(t *testing.T) {
	ids := make([]*secure.Identity, 5)
	nodes := make([]*Node, 5)
	d := newDeliveries()
	for i := range nodes {
		ids[i] = newIdentity(t)
		name := fmt.Sprint("s", i)
		nodes[i] = startNode(t, name, d.handler(name), WithIdentity(ids[i]), WithEventLoops(1),
			WithRedialBackoff(20*time.Millisecond), WithRedialMaxBackoff(100*time.Millisecond))
	}
	// Crossed: every pair of the ring dials both ways at once.
	var wg sync.WaitGroup
	for i, a := range nodes {
		b := nodes[(i+1)%len(nodes)]
		for _, p := range [][2]*Node{{a, b}, {b, a}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := p[0].AddRoute(p[1].ID().Name, p[1].Addr()); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	eventually(t, 3*time.Second, "one link per ring edge", func() bool {
		for i, a := range nodes {
			b := nodes[(i+1)%len(nodes)]
			if s := routeSocket(a, b); s == "" || s != routeSocket(b, a) {
				return false
			}
		}
		for _, n := range nodes {
			if n.Stats().Conns != 2 {
				return false
			}
		}
		return true
	})
	m := &mesh{nodes: nodes, d: d, deg: []int{2, 2, 2, 2, 2}}
	m.broadcastAll(t, 20, rand.New(rand.NewPCG(7, 8)))

	// Reconnect with security: restart s2 with the same key and address.
	addr := nodes[2].Addr()
	_ = nodes[2].Close()
	eventually(t, 2*time.Second, "s2 gone", func() bool { return liveLinks(nodes[1]) == 1 })
	startNodeAt(t, "s2", addr, d.handler("s2"), WithIdentity(ids[2]))
	eventually(t, 3*time.Second, "s1 and s3 reconnected", func() bool {
		_, e1 := nodes[1].Dispatch(addr, []byte("x"))
		_, e3 := nodes[3].Dispatch(addr, []byte("x"))
		return e1 == nil && e3 == nil
	})
	if l := nodes[1].routes.table.Get(addr).Link(); l == nil || l.Key() != string(ids[2].Public()) {
		t.Fatal("reconnected link does not carry s2's key")
	}
}

// cipherLog records the cipher of every secure link a node logs (at debug
// level).
type cipherLog struct {
	mu      sync.Mutex
	ciphers []string
}

func (l *cipherLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *cipherLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *cipherLog) WithGroup(string) slog.Handler            { return l }
func (l *cipherLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "secure link" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "cipher" {
			l.mu.Lock()
			l.ciphers = append(l.ciphers, a.Value.String())
			l.mu.Unlock()
		}
		return true
	})
	return nil
}

func (l *cipherLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ciphers)
}

var (
	aesNode    = WithCiphers(secure.AESGCM, secure.ChaChaPoly) // AES hardware, whatever this machine has
	chachaNode = WithCiphers(secure.ChaChaPoly)                // no AES hardware
)

// Each pairing of nodes with and without AES hardware links, in both
// modes, and runs AES-GCM only when both ends have it.
func TestSecureCipherPairings(t *testing.T) {
	for _, c := range []struct {
		name             string
		dialer, acceptor Option
		want             secure.Cipher
	}{
		{"AES-AES", aesNode, aesNode, secure.AESGCM},
		{"AES dialer, ChaCha-only acceptor", aesNode, chachaNode, secure.ChaChaPoly},
		{"ChaCha-only dialer, AES acceptor", chachaNode, aesNode, secure.ChaChaPoly},
		{"ChaCha-ChaCha", chachaNode, chachaNode, secure.ChaChaPoly},
	} {
		for _, mode := range []Mode{Persistent, Short} {
			t.Run(c.name+"/"+mode.String(), func(t *testing.T) {
				var la, lb cipherLog
				a := startNode(t, "a", nil, WithIdentity(newIdentity(t)), WithMode(mode), c.dialer, WithLogger(slog.New(&la)))
				b := startNode(t, "b", echo, WithIdentity(newIdentity(t)), WithMode(mode), c.acceptor, WithLogger(slog.New(&lb)))
				linkNodes(t, a, b)
				msg := bytes.Repeat([]byte("4k"), 2048)
				for range 3 {
					if got, err := a.Dispatch("b", msg); err != nil || !bytes.Equal(got, append([]byte("echo:"), msg...)) {
						t.Fatalf("%d bytes, %v", len(got), err)
					}
				}
				want := c.want.String()
				for _, l := range []*cipherLog{&la, &lb} {
					got := l.all()
					if len(got) == 0 || slices.ContainsFunc(got, func(s string) bool { return s != want }) {
						t.Fatalf("links ran %v, want %s", got, want)
					}
				}
			})
		}
	}
}

// A man in the middle who rewrites the dialer's cipher list or the
// acceptor's choice, to make two AES nodes run ChaCha, fails the handshake.
func TestSecureCipherDowngradeProxy(t *testing.T) {
	// The dialer's first frame: header, 32-byte ephemeral key, cipher list.
	offer := func(list ...byte) func(i int, f []byte) []byte {
		return func(i int, f []byte) []byte {
			if i != 0 {
				return f
			}
			if !bytes.Equal(f[codec.HeaderSize+32:], []byte{byte(secure.AESGCM), byte(secure.ChaChaPoly)}) {
				panic(fmt.Sprintf("unexpected first message % x", f))
			}
			return codec.Append(nil, codec.Frame{Kind: codec.KindSecure, Payload: append(f[codec.HeaderSize:codec.HeaderSize+32:codec.HeaderSize+32], list...)})
		}
	}
	choice := func(flags uint8) func(i int, f []byte) []byte {
		return func(i int, f []byte) []byte {
			if i == 0 {
				f[6] = flags
			}
			return f
		}
	}
	for _, c := range []struct {
		name     string
		up, down func(i int, f []byte) []byte
	}{
		{"list rewritten to ChaCha only", offer(byte(secure.ChaChaPoly)), nil},
		{"list stripped, as an old dialer's", offer(), nil},
		{"choice rewritten to ChaCha", nil, choice(uint8(secure.ChaChaPoly))},
		{"choice erased, as an old acceptor's", nil, choice(0)},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := startNode(t, "srv", echo, WithIdentity(newIdentity(t)), aesNode)
			cli := startNode(t, "cli", nil, WithIdentity(newIdentity(t)), aesNode)
			err := cli.AddRoute("srv", frameProxy(t, srv.Addr(), c.up, c.down))
			mustErrIs(t, err, ErrHandshake)
			t.Logf("dialer: %v", err)
			if len(srv.Peers()) != 0 || liveLinks(cli) != 0 {
				t.Fatalf("linked: %v, %d links", srv.Peers(), liveLinks(cli))
			}
		})
	}
	t.Run("untouched", func(t *testing.T) { // the proxy itself is no obstacle
		srv := startNode(t, "srv", echo, WithIdentity(newIdentity(t)), aesNode)
		cli := startNode(t, "cli", nil, WithIdentity(newIdentity(t)), aesNode)
		if err := cli.AddRoute("srv", frameProxy(t, srv.Addr(), choice(uint8(secure.AESGCM)), nil)); err != nil {
			t.Fatal(err)
		}
		if got, err := cli.Dispatch("srv", []byte("hi")); err != nil || string(got) != "echo:hi" {
			t.Fatalf("%q %v", got, err)
		}
	})
}

// BenchmarkDispatchSecure is BenchmarkDispatch at 4 KiB with 16 callers
// on plain, AES-GCM and ChaCha20-Poly1305 links: the secure bench rows'
// shape, without the bench's harness.
func BenchmarkDispatchSecure(b *testing.B) {
	for _, c := range []struct {
		name string
		opts func() []Option
	}{
		{"plain", func() []Option { return nil }},
		{"AESGCM", func() []Option { return []Option{WithIdentity(newIdentity(b)), aesNode} }},
		{"ChaChaPoly", func() []Option { return []Option{WithIdentity(newIdentity(b)), chachaNode} }},
	} {
		b.Run(c.name, func(b *testing.B) {
			srv := startNode(b, "srv", echoBody, c.opts()...)
			cli := startNode(b, "cli", nil, c.opts()...)
			linkNodes(b, cli, srv)
			b.SetBytes(4096)
			b.SetParallelism(8) // 16 callers on 2 CPUs
			dispatchParallel(b, cli, make([]byte, 4096))
		})
	}
}

// Senders seal as they queue and the loop seals its answers after the
// queue: with callers on both ends, answers, notices and broadcasts all
// crossing at once, every frame must still open in wire order.
func TestSecureConcurrentBothWays(t *testing.T) {
	var notices atomic.Int32
	h := proto.HandlerFunc(func(ctx proto.Context, msg []byte) ([]byte, error) {
		if ctx.Kind() != codec.KindRequest {
			notices.Add(1)
			return nil, nil
		}
		return msg, nil
	})
	a := startNode(t, "a", h, WithIdentity(newIdentity(t)))
	b := startNode(t, "b", h, WithIdentity(newIdentity(t)))
	linkNodes(t, a, b)
	var wg sync.WaitGroup
	const callers, calls = 8, 100
	for _, c := range [][2]*Node{{a, b}, {b, a}} {
		for g := range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				peer := c[1].ID().Name
				for i := range calls {
					msg := bytes.Repeat([]byte{byte(g), byte(i)}, 1+(g*calls+i)%3000)
					got, err := c[0].Dispatch(peer, msg)
					if err != nil || !bytes.Equal(got, msg) {
						t.Errorf("%s -> %s: %d bytes, %v", c[0].ID().Name, peer, len(got), err)
						return
					}
					if i%10 == 0 {
						_ = c[0].Send(peer, nil)
						_, _ = c[0].Broadcast([]byte("b"))
					}
				}
			}()
		}
	}
	wg.Wait()
	if a.Stats().Tampered+b.Stats().Tampered != 0 || liveLinks(a) != 1 {
		t.Fatalf("tampered %d/%d, %d links", a.Stats().Tampered, b.Stats().Tampered, liveLinks(a))
	}
}

// A secure link that carries nothing for a while drops its expanded
// ciphers (an idle link holds its keys only), and the next frames either
// way rebuild them: requests go on as before.
func TestSecureIdleLinkReleasesCiphers(t *testing.T) {
	a := startNode(t, "a", echo, WithIdentity(newIdentity(t)), WithKeepalive(0))
	b := startNode(t, "b", echo, WithIdentity(newIdentity(t)), WithKeepalive(0))
	linkNodes(t, a, b)
	sessions := func() (s []*secure.Session) {
		for _, n := range []*Node{a, b} {
			n.conns.Range(func(pc *peerConn) bool {
				if sess := pc.Sealer(); sess != nil {
					s = append(s, sess)
				}
				return true
			})
		}
		return s
	}
	released := func() bool {
		s := sessions()
		for _, x := range s {
			if !x.Released() {
				return false
			}
		}
		return len(s) == 2
	}
	for round := range 2 {
		if _, err := a.Dispatch("b", []byte("ping")); err != nil {
			t.Fatal(err)
		}
		if released() {
			t.Fatalf("round %d: sessions released right after a request", round)
		}
		eventually(t, 5*time.Second, "idle sessions released", released)
		got, err := b.Dispatch("a", []byte("after"))
		if err != nil || string(got) != "echo:after" {
			t.Fatalf("round %d: request after the release: %q, %v", round, got, err)
		}
	}
}
