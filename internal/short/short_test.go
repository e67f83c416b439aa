package short

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/internal/acceptor"
	"github.com/antnet-p2p/antnet/internal/testkit"
	"github.com/antnet-p2p/antnet/proto"
)

// hello appends a hello frame (flags: FlagShort or 0) from name@addr.
func hello(b []byte, kind codec.Kind, flags uint8, name, addr string) []byte {
	h := proto.Hello{ID: proto.PeerID{Name: name, Addr: addr}, Nonce: 7}
	p := proto.AppendHello(nil, h)
	b = codec.AppendHeader(b, kind, flags, 0, 0, len(p))
	return append(b, p...)
}

// frame appends one frame.
func frame(b []byte, kind codec.Kind, id uint64, payload string) []byte {
	b = codec.AppendHeader(b, kind, 0, 0, id, len(payload))
	return append(b, payload...)
}

// pair returns both ends of a loopback TCP connection.
func pair(t *testing.T) (dialed net.Conn, accepted *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dialed, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dialed.Close(); a.Close() })
	return dialed, a.(*net.TCPConn)
}

// exchange is a Call of request "ping" on c recording what it was handed.
func exchange() (*Exchange, *[]string) {
	var got []string
	x := &Exchange{
		Request: func(b []byte) []byte {
			return frame(hello(b, codec.KindHello, proto.FlagShort, "a", "127.0.0.1:1"), codec.KindRequest, 1, "ping")
		},
		MaxAck: 4096, MaxFrame: 1 << 20,
		Ack: func(f codec.Frame) error { got = append(got, f.Kind.String()); return nil },
		Answer: func(f codec.Frame) (bool, error) {
			got = append(got, f.Kind.String()+":"+string(f.Payload))
			return true, nil
		},
	}
	return x, &got
}

// The caller writes hello and request in one write, hands hello-ack and
// the answer over, and waits for the acceptor to close first.
func TestCallWaitsForTheAcceptorToCloseFirst(t *testing.T) {
	c, a := pair(t)
	x, got := exchange()
	ack := hello(nil, codec.KindHelloAck, proto.FlagShort, "b", "127.0.0.1:2")
	answer := frame(nil, codec.KindResponse, 1, "pong")
	served := make(chan error, 1)
	go func() {
		want := len(x.Request(nil))
		buf := make([]byte, want)
		if _, err := io.ReadFull(a, buf); err != nil {
			served <- err
			return
		}
		if _, err := a.Write(append(ack, answer...)); err != nil {
			served <- err
			return
		}
		// The dialer has the answer; it must not close before we do.
		_ = a.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := a.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
			served <- errors.New("the dialer closed before the acceptor")
			return
		}
		served <- a.Close()
	}()
	read, err := x.Call(c, time.Now().Add(5*time.Second), context.Background(), context.Background())
	if err != nil {
		t.Fatalf("Call: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	if read != len(ack)+len(answer) {
		t.Fatalf("read %d, want %d", read, len(ack)+len(answer))
	}
	if len(*got) != 2 || (*got)[0] != codec.KindHelloAck.String() || (*got)[1] != codec.KindResponse.String()+":pong" {
		t.Fatalf("handed over %q", *got)
	}
}

// Socket failures are IOErrors naming the step: not a frame, a peer that
// closed, a Stop context that ended. Ack's error is returned as it is.
func TestCallErrors(t *testing.T) {
	t.Run("not a frame", func(t *testing.T) {
		c, a := pair(t)
		_, _ = a.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
		x, _ := exchange()
		_, err := x.Call(c, time.Now().Add(5*time.Second), context.Background(), context.Background())
		var ioe *IOError
		var de *codec.DecodeError
		if !errors.As(err, &ioe) || ioe.Step != StepAck || !errors.As(err, &de) {
			t.Fatalf("Call: %v; want an IOError at hello-ack with a DecodeError", err)
		}
	})
	t.Run("closed before the answer", func(t *testing.T) {
		c, a := pair(t)
		_, _ = a.Write(hello(nil, codec.KindHelloAck, proto.FlagShort, "b", "127.0.0.1:2"))
		_ = a.Close()
		x, _ := exchange()
		read, err := x.Call(c, time.Now().Add(5*time.Second), context.Background(), context.Background())
		var ioe *IOError
		if !errors.As(err, &ioe) || ioe.Step != StepAnswer || !errors.Is(err, io.EOF) || read != 0 {
			t.Fatalf("Call: %d, %v; want 0 and an IOError at answer, io.EOF", read, err)
		}
	})
	t.Run("stop context", func(t *testing.T) {
		c, _ := pair(t) // the acceptor never answers
		ctx, cancel := context.WithCancel(context.Background())
		x, _ := exchange()
		time.AfterFunc(20*time.Millisecond, cancel)
		start := time.Now()
		_, err := x.Call(c, time.Now().Add(5*time.Second), context.Background(), ctx)
		var ioe *IOError
		if !errors.As(err, &ioe) || ioe.Step != StepAck || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Call: %v; want an IOError at hello-ack, deadline exceeded", err)
		}
		if d := time.Since(start); d > 4*time.Second {
			t.Fatalf("Call returned after %v: the Stop context did not end it", d)
		}
	})
	t.Run("ack refused", func(t *testing.T) {
		c, a := pair(t)
		_, _ = a.Write(frame(nil, codec.KindError, 0, "no"))
		x, _ := exchange()
		refused := errors.New("refused")
		x.Ack = func(codec.Frame) error { return refused }
		read, err := x.Call(c, time.Now().Add(5*time.Second), context.Background(), context.Background())
		if err != refused || read != 0 {
			t.Fatalf("Call: %d, %v; want 0, Ack's error as it is", read, err)
		}
	})
}

// TestCallEndedContextEndsItAtOnce: a Call whose context has already
// ended returns at once, every time: the interrupt must not be undone by
// the deadline Call sets. It races the interrupt's goroutine, so it runs
// many calls.
func TestCallEndedContextEndsItAtOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for i := range 2000 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		a, err := ln.Accept() // the acceptor never answers
		if err != nil {
			t.Fatal(err)
		}
		x, _ := exchange()
		start := time.Now()
		_, err = x.Call(c, time.Now().Add(10*time.Second), context.Background(), ctx)
		took := time.Since(start)
		a.Close()
		if !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, net.ErrClosed) {
			t.Fatalf("call %d: %v; want it interrupted", i, err)
		}
		if took > 2*time.Second {
			t.Fatalf("call %d with an ended context returned after %v", i, took)
		}
	}
}

// Whole finds a whole short exchange in what a socket holds, and nothing
// else; Answer writes the answer and the FIN.
func TestWholeAndAnswer(t *testing.T) {
	shortHello := hello(nil, codec.KindHello, proto.FlagShort, "a", "127.0.0.1:1")
	req := frame(nil, codec.KindRequest, 1, "ping")
	for _, tc := range []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"hello and request", append(append([]byte(nil), shortHello...), req...), true},
		{"hello and notice", append(append([]byte(nil), shortHello...), frame(nil, codec.KindNotice, 0, "n")...), true},
		{"persistent hello", append(hello(nil, codec.KindHello, 0, "a", "127.0.0.1:1"), req...), false},
		{"request missing", shortHello, false},
		{"two requests", append(append(append([]byte(nil), shortHello...), req...), req...), false},
		{"request cut", append(append([]byte(nil), shortHello...), req[:len(req)-1]...), false},
		{"gossip", append(append([]byte(nil), shortHello...), frame(nil, codec.KindGossip, 1, "g")...), false},
		{"request first", append(append([]byte(nil), req...), shortHello...), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, a := pair(t)
			if _, err := c.Write(tc.in); err != nil {
				t.Fatal(err)
			}
			rc, err := a.SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 1024)
			k := 0
			testkit.Eventually(t, 5*time.Second, "the bytes to arrive", func() bool {
				_ = rc.Control(func(fd uintptr) { k = acceptor.Peek(int(fd), buf) })
				return k == len(tc.in)
			})
			p, ok := Whole(buf[:k], 4096, 4096)
			if ok != tc.ok {
				t.Fatalf("Whole: %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			if p.Hello.ID.Name != "a" || p.Hello.Nonce != 7 || p.Msg.Kind != codec.Kind(tc.in[len(shortHello)+5]) {
				t.Fatalf("Peeked %+v", p)
			}
			answer := frame(nil, codec.KindResponse, 1, "pong")
			w := 0
			_ = rc.Control(func(fd uintptr) { w = Answer(int(fd), answer) })
			if w != len(answer) {
				t.Fatalf("Answer wrote %d of %d", w, len(answer))
			}
			got, err := io.ReadAll(c) // ends at the FIN
			if err != nil || string(got) != string(answer) {
				t.Fatalf("dialer read %q, %v; want the answer then EOF", got, err)
			}
		})
	}
}
