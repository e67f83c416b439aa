package engine

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/codec"
	"github.com/antnet-p2p/antnet/internal/link"
	"github.com/antnet-p2p/antnet/proto"
)

// Item 2: a peer that does not read keeps its link; senders get
// ErrSlowPeer and the node holds at most the mark plus one frame for it.
func TestHighWaterKeepsNonReader(t *testing.T) {
	const hw = 256 << 10
	payload := make([]byte, 16<<10)
	frame := codec.HeaderSize + len(payload)
	srv := startNode(t, "srv", echo, WithHighWater(hw), WithMaxFrameSize(64<<10))
	p := dialRaw(t, srv.Addr())
	p.hello("lazy", "127.0.0.1:1") // and never reads again, until told below
	pc := linkAt(t, srv, "127.0.0.1:1")

	var sent, refused atomic.Int64
	var failed atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				err := srv.Send("lazy@127.0.0.1:1", payload)
				switch {
				case err == nil:
					sent.Add(int64(frame))
				case errors.Is(err, ErrSlowPeer):
					refused.Add(1)
					time.Sleep(100 * time.Microsecond) // retry later, as ErrSlowPeer says
				default:
					failed.Store(err)
					return
				}
			}
		}()
	}
	maxHeld, probes := 0, 0
	eventually(t, 10*time.Second, "senders refused for a while", func() bool {
		h, ok := outboundHeld(pc)
		if !ok {
			return true // the link closed: reported below
		}
		maxHeld = max(maxHeld, h)
		if refused.Load() > 0 {
			probes++
		}
		return probes >= 50
	})
	close(stop)
	wg.Wait()
	h, _ := outboundHeld(pc)
	maxHeld = max(maxHeld, h)
	st := srv.Stats()
	t.Logf("mark %d, frame %d: held at most %d bytes (%+d over the mark); %d bytes accepted, %d sends refused, Dropped %d, SlowPeers %d",
		hw, frame, maxHeld, maxHeld-hw, sent.Load(), refused.Load(), st.Dropped, st.SlowPeers)
	if err, _ := failed.Load().(error); err != nil {
		t.Fatalf("a sender got %v, want nil or ErrSlowPeer", err)
	}
	if pc.State.Load() != link.Ready || st.SlowPeers != 0 {
		t.Fatalf("the peer that does not read was disconnected (state %d, SlowPeers %d)", pc.State.Load(), st.SlowPeers)
	}
	if maxHeld > hw+frame {
		t.Fatalf("held %d bytes for the peer, mark %d + one frame %d", maxHeld, hw, frame)
	}
	if refused.Load() == 0 || st.Dropped == 0 {
		t.Fatal("no send was refused")
	}

	// The peer reads again: everything accepted arrives, and sends work.
	got := 0
	for got < int(sent.Load()) {
		f, err := p.next()
		if err != nil {
			t.Fatalf("after %d of %d bytes: %v", got, sent.Load(), err)
		}
		got += f.Size()
	}
	if err := srv.Send("lazy@127.0.0.1:1", []byte("again")); err != nil {
		t.Fatal(err)
	}
	if f := p.read(); string(f.Payload) != "again" {
		t.Fatalf("got %q", f.Payload)
	}
}

// Item 2: a peer that keeps sending requests but never reads the answers is
// paced first, then disconnected once its unread input passes the mark
// plus one max frame; the node holds bounded memory for it throughout.
func TestHighWaterDropsFlooder(t *testing.T) {
	const hw, maxFrame = 128 << 10, 64 << 10
	srv := startNode(t, "srv", echo, WithHighWater(hw), WithMaxFrameSize(maxFrame))
	p := dialRaw(t, srv.Addr())
	p.hello("flood", "127.0.0.1:1")
	pc := linkAt(t, srv, "127.0.0.1:1")
	req := codec.Append(nil, codec.Frame{Kind: codec.KindRequest, ID: 1, Payload: make([]byte, 8<<10)})
	maxHeld := 0
	for pc.State.Load() != link.Closed {
		_ = p.c.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
		if _, err := p.c.Write(req); err != nil && !isTimeout(err) {
			break // the node closed it
		}
		if h, ok := outboundHeld(pc); ok {
			maxHeld = max(maxHeld, h)
		}
	}
	st := srv.Stats()
	t.Logf("flooder: held at most %d bytes for it (mark %d), SlowPeers %d", maxHeld, hw, st.SlowPeers)
	if st.SlowPeers != 1 {
		t.Fatalf("SlowPeers = %d", st.SlowPeers)
	}
	if maxHeld > hw+len(req)+len("echo:") {
		t.Fatalf("held %d bytes, mark %d", maxHeld, hw)
	}
}

// Item 2: a peer that reads but pipelines requests with large replies gets
// every answer; the server paces itself instead of dropping it. Default
// settings, plain and secure.
func TestPipelinedLargeRepliesAllAnswered(t *testing.T) {
	for _, sec := range []bool{false, true} {
		name := "plain"
		if sec {
			name = "secure"
		}
		t.Run(name, func(t *testing.T) { pipelineLargeReplies(t, sec) })
	}
}

func pipelineLargeReplies(t *testing.T, sec bool) {
	const n = 24
	big := bytes.Repeat([]byte{7}, 1<<20)
	var srvOpts, cliOpts []Option
	if sec {
		srvOpts = append(srvOpts, WithIdentity(newIdentity(t)))
		cliOpts = append(cliOpts, WithIdentity(newIdentity(t)))
	}
	srv := startNode(t, "srv", proto.HandlerFunc(func(proto.Context, []byte) ([]byte, error) { return big, nil }), srvOpts...)
	// Slow is fine (24 MiB, sealed, on a loaded machine); lost is not.
	cliOpts = append(cliOpts, WithTimeout(time.Minute))
	cli := startNode(t, "cli", nil, cliOpts...)
	linkNodes(t, cli, srv)
	pc := linkAt(t, srv, cli.Addr())

	done := make(chan struct{})
	var maxHeld atomic.Int64
	go func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			if h, ok := outboundHeld(pc); ok && int64(h) > maxHeld.Load() {
				maxHeld.Store(int64(h))
			}
			time.Sleep(time.Millisecond) // the sampling period, not a wait
		}
	}()
	errs := make(chan error, n)
	for range n {
		go func() {
			got, err := cli.Dispatch("srv", []byte("x"))
			if err == nil && !bytes.Equal(got, big) {
				err = fmt.Errorf("reply of %d bytes", len(got))
			}
			errs <- err
		}()
	}
	failed := 0
	var first error
	for range n {
		if err := <-errs; err != nil {
			failed++
			if first == nil {
				first = err
			}
		}
	}
	close(done)
	hw := srv.cfg.HighWater
	t.Logf("%d pipelined requests with 1 MiB replies: %d answered, %d failed; server held at most %d bytes for the peer (mark %d); SlowPeers %d",
		n, n-failed, failed, maxHeld.Load(), hw, srv.Stats().SlowPeers)
	if failed > 0 {
		t.Fatalf("%d of %d requests failed, first: %v", failed, n, first)
	}
	if s := srv.Stats().SlowPeers; s != 0 {
		t.Fatalf("SlowPeers = %d", s)
	}
	if int(maxHeld.Load()) > hw+codec.HeaderSize+len(big)+srv.cfg.SealOverhead() {
		t.Fatalf("server held %d bytes, mark %d", maxHeld.Load(), hw)
	}
}

// Item 2: SlowPeers counts peers, Dropped counts refused frames.
func TestSlowPeersCountsPeers(t *testing.T) {
	const hw = 128 << 10
	srv := startNode(t, "srv", echo, WithHighWater(hw), WithDropSlowPeers(), WithMaxFrameSize(64<<10))
	p := dialRaw(t, srv.Addr())
	p.hello("lazy", "127.0.0.1:1")
	pc := linkAt(t, srv, "127.0.0.1:1")
	payload := make([]byte, 16<<10)
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for pc.State.Load() != link.Closed {
				_ = srv.Send("lazy@127.0.0.1:1", payload)
			}
		}()
	}
	eventually(t, 10*time.Second, "the slow peer dropped", func() bool { return pc.State.Load() == link.Closed })
	wg.Wait()
	st := srv.Stats()
	t.Logf("one slow peer: SlowPeers %d, Dropped %d", st.SlowPeers, st.Dropped)
	if st.SlowPeers != 1 || st.Dropped == 0 {
		t.Fatalf("SlowPeers %d (want 1), Dropped %d (want > 0)", st.SlowPeers, st.Dropped)
	}
}
