package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/antnet-p2p/antnet/internal/graph"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

const bcastTopic = "antnet-bench"

// pubsubBcast is N libp2p hosts with GossipSub or FloodSub, one topic.
type pubsubBcast struct {
	hosts  []host.Host
	topics []*pubsub.Topic
	subs   []*pubsub.Subscription
	tr     []*counter
	cancel context.CancelFunc
	wg     sync.WaitGroup
	note   string
}

func (b *pubsubBcast) setupNote() string { return b.note }

func startPubsubBcast(gossip bool, n int, edges [][2]int, d *deliveries) (*pubsubBcast, error) {
	ctx, cancel := context.WithCancel(context.Background())
	b := &pubsubBcast{cancel: cancel}
	fail := func(err error) (*pubsubBcast, error) {
		b.close()
		return nil, err
	}
	for i := range n {
		h, err := newHost(false)
		if err != nil {
			return fail(fmt.Errorf("host %d: %w", i, err))
		}
		b.hosts = append(b.hosts, h)
		tr := &counter{}
		opts := []pubsub.Option{
			pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
			pubsub.WithNoAuthor(),
			pubsub.WithMessageIdFn(func(m *pb.Message) string { return string(m.Data[:min(8, len(m.Data))]) }),
			pubsub.WithRawTracer(tr),
			pubsub.WithLogger(slog.New(slog.DiscardHandler)),
			pubsub.WithRPCLogger(slog.New(slog.DiscardHandler)),
		}
		var ps *pubsub.PubSub
		if gossip {
			ps, err = pubsub.NewGossipSub(ctx, h, opts...)
		} else {
			ps, err = pubsub.NewFloodSub(ctx, h, opts...)
		}
		if err != nil {
			return fail(fmt.Errorf("pubsub %d: %w", i, err))
		}
		t, err := ps.Join(bcastTopic)
		if err != nil {
			return fail(err)
		}
		sub, err := t.Subscribe(pubsub.WithBufferSize(1024))
		if err != nil {
			return fail(err)
		}
		b.topics, b.subs, b.tr = append(b.topics, t), append(b.subs, sub), append(b.tr, tr)
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			for {
				m, err := sub.Next(ctx)
				if err != nil {
					return
				}
				d.deliver(i, m.Data)
			}
		}()
	}
	if err := linkEdges(edges, func(e [2]int) error {
		c, cancel := connectCtx()
		defer cancel()
		return b.hosts[e[0]].Connect(c, addrInfo(b.hosts[e[1]]))
	}); err != nil {
		return fail(err)
	}
	// Every node knows each neighbour's subscription; then (GossipSub)
	// every node holds a mesh of min(degree, Dlo = 5) peers, or 30 s
	// pass and the row notes how many do not.
	degs := graph.Degrees(n, edges)
	if !waitFor(60*time.Second, func() bool {
		for i, t := range b.topics {
			if len(t.ListPeers()) < degs[i] {
				return false
			}
		}
		return true
	}) {
		return fail(errors.New("subscriptions not all known in 60s"))
	}
	short := func() (k int) {
		for i := range b.topics {
			if b.tr[i].grafts.Load() < int64(min(degs[i], 5)) {
				k++
			}
		}
		return k
	}
	if gossip && !waitFor(30*time.Second, func() bool { return short() == 0 }) {
		b.note = fmt.Sprintf("%d of %d nodes had a mesh below min(degree, Dlo) after 30 s", short(), n)
	}
	return b, nil
}

func (b *pubsubBcast) publish(origin int, msg []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return b.topics[origin].Publish(ctx, msg)
}

func (b *pubsubBcast) counters() (sent, dropped uint64) {
	for _, t := range b.tr {
		sent += uint64(t.copies.Load())
		dropped += uint64(t.dups.Load())
	}
	return sent, dropped
}

func (b *pubsubBcast) close() error {
	for _, s := range b.subs {
		s.Cancel()
	}
	b.cancel()
	err := closeAll(b.hosts)
	b.wg.Wait()
	return err
}

// counter is a pubsub RawTracer counting payload copies sent, duplicate
// copies received, and grafts (mesh peers added).
type counter struct {
	copies, dups, grafts atomic.Int64
}

func (c *counter) SendRPC(rpc *pubsub.RPC, _ peer.ID)                   { c.copies.Add(int64(len(rpc.Publish))) }
func (c *counter) DuplicateMessage(*pubsub.Message)                     { c.dups.Add(1) }
func (c *counter) Graft(peer.ID, string)                                { c.grafts.Add(1) }
func (c *counter) Prune(peer.ID, string)                                { c.grafts.Add(-1) }
func (c *counter) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (c *counter) OnClosedOutboundStream(peer.ID)                       {}
func (c *counter) Join(string)                                          {}
func (c *counter) Leave(string)                                         {}
func (c *counter) ValidateMessage(*pubsub.Message)                      {}
func (c *counter) DeliverMessage(*pubsub.Message)                       {}
func (c *counter) RejectMessage(*pubsub.Message, string)                {}
func (c *counter) ThrottlePeer(peer.ID)                                 {}
func (c *counter) RecvRPC(*pubsub.RPC)                                  {}
func (c *counter) DropRPC(*pubsub.RPC, peer.ID)                         {}
func (c *counter) UndeliverableMessage(*pubsub.Message)                 {}
func (c *counter) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
