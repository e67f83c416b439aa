package link

import (
	"testing"

	"github.com/valyala/bytebufferpool"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/secure"
)

// sessions returns both ends of a real Noise XX handshake.
func sessions(t *testing.T) (dialer, acceptor *secure.Session) {
	t.Helper()
	a, _ := secure.Generate()
	b, _ := secure.Generate()
	ha, err := secure.NewHandshake(a, true)
	if err != nil {
		t.Fatal(err)
	}
	hb, err := secure.NewHandshake(b, false)
	if err != nil {
		t.Fatal(err)
	}
	m1, err := ha.Start()
	if err != nil {
		t.Fatal(err)
	}
	m2, _, err := hb.Read(0, m1)
	if err != nil {
		t.Fatal(err)
	}
	m3, sa, err := ha.Read(hb.Cipher(), m2)
	if err != nil {
		t.Fatal(err)
	}
	_, sb, err := hb.Read(0, m3)
	if err != nil || sa == nil || sb == nil {
		t.Fatalf("handshake: %v", err)
	}
	return sa, sb
}

// On a secure link the bytes the loop writes open at the peer in wire
// order (the seal's nonces): while the handshake's frames go out the
// loop's own frames lead and the queue, in the clear, is sealed after
// them; from the first batch past the handshake senders seal as they
// queue, and the queue leads.
func TestSealBatchKeepsWireOrder(t *testing.T) {
	sa, sb := sessions(t)
	env := newEnv()
	env.Overhead = secure.Overhead
	var o Out
	o.Init(true, true)
	o.SetConn(&fakeConn{fd: -1})
	o.Secure().Session = sa
	var wire []byte
	batch := func(loop string) {
		w := &bytebufferpool.ByteBuffer{B: codec.Append(nil, codec.Frame{Kind: codec.KindNotice, Payload: []byte(loop)})}
		sealed, err := o.SealBatch(env, w, &bytebufferpool.ByteBuffer{})
		if err != nil {
			t.Fatal(err)
		}
		wire = append(wire, sealed.B...)
	}
	queue := func(p string) {
		if _, err := o.Send(env, name("p"), codec.KindNotice, 0, 0, 0, []byte(p), nil); err != nil {
			t.Fatal(err)
		}
	}
	queue("q1")
	batch("w1") // the handshake's batch: the queue follows
	if o.Sealer() != nil {
		t.Fatal("sealing before the handshake ended")
	}
	o.State.Store(Ready)
	queue("q2")
	batch("w2") // the handshake's frames are out: from now on senders seal
	if o.Sealer() != sa {
		t.Fatal("not sealing after the first batch past the handshake")
	}
	queue("q3")
	batch("w3")
	var got []string
	for len(wire) > 0 {
		f, n, err := codec.Decode(wire, 1<<20)
		if err != nil || n == 0 {
			t.Fatalf("wire does not decode: %v", err)
		}
		if err := sb.Open(&f); err != nil {
			t.Fatalf("frame %d does not open: %v (out of nonce order)", len(got), err)
		}
		got = append(got, string(f.Payload))
		wire = wire[n:]
	}
	want := []string{"w1", "q1", "w2", "q2", "q3", "w3"}
	if len(got) != len(want) {
		t.Fatalf("peer opened %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("peer opened %v, want %v", got, want)
		}
	}
}
