package engine

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/internal/config"
	"github.com/antnet-p2p/antnet/secure"
)

// Every option out of its range makes New fail with ErrBadOption naming the
// option, instead of building a node that fails every send.
func TestNewRefusesBadOptions(t *testing.T) {
	id, err := secure.Generate()
	if err != nil {
		t.Fatal(err)
	}
	admitAll := WithAdmit(func([]byte) error { return nil })
	tests := []struct {
		opts []Option
		name string // what the error must mention
	}{
		{[]Option{WithMode(Mode(7))}, "WithMode"},
		{[]Option{WithTimeout(0)}, "WithTimeout"},
		{[]Option{WithTimeout(-time.Second)}, "WithTimeout"},
		{[]Option{WithDialTimeout(0)}, "WithDialTimeout"},
		{[]Option{WithHandshakeTimeout(0)}, "WithHandshakeTimeout"},
		{[]Option{WithMaxFrameSize(0)}, "WithMaxFrameSize"},
		{[]Option{WithMaxFrameSize(16)}, "WithMaxFrameSize"},
		{[]Option{WithMaxFrameSize(1 << 33)}, "WithMaxFrameSize"},
		{[]Option{WithEventLoops(0)}, "WithEventLoops"},
		{[]Option{WithWorkers(-1)}, "WithWorkers"},
		{[]Option{WithWorkers(2), WithWorkerQueue(-1)}, "WithWorkerQueue"},
		{[]Option{WithSeenSet(0, time.Minute)}, "WithSeenSet"},
		{[]Option{WithSeenSet(100, 0)}, "WithSeenSet"},
		{[]Option{WithKeepalive(-1)}, "WithKeepalive"},
		{[]Option{WithDeadPeerTimeout(-1)}, "WithDeadPeerTimeout"},
		{[]Option{WithKeepalive(time.Second), WithDeadPeerTimeout(time.Second)}, "WithDeadPeerTimeout"},
		{[]Option{WithRedialBackoff(0)}, "WithRedialBackoff"},
		{[]Option{WithRedialBackoff(time.Second), WithRedialMaxBackoff(time.Millisecond)}, "WithRedialMaxBackoff"},
		{[]Option{WithHighWater(-1)}, "WithHighWater"},
		{[]Option{WithHighWater(1 << 20)}, "WithHighWater"}, // below the 4 MiB max frame
		{[]Option{WithHighWater(0), WithDropSlowPeers()}, "WithDropSlowPeers"},
		{[]Option{WithIdentity(id), WithAllowKeys()}, "WithAllowKeys()"}, // no keys: would admit no peer
		{[]Option{WithIdentity(id), WithAdmit(nil)}, "WithAdmit(nil)"},
		{[]Option{WithMaxConns(-1)}, "WithMaxConns"},
		{[]Option{WithMaxPendingHandshakes(-1)}, "WithMaxPendingHandshakes"},
		{[]Option{WithMaxInFlight(-1)}, "WithMaxInFlight"},
		{[]Option{WithStallThreshold(-time.Millisecond)}, "WithStallThreshold"},
		{[]Option{WithLinkGrace(-time.Second)}, "WithLinkGrace"},
		{[]Option{WithAdvertiseAddr("nowhere")}, "WithAdvertiseAddr"},
		{[]Option{WithAdvertiseAddr("x@127.0.0.1:9")}, "WithAdvertiseAddr"},
		{[]Option{admitAll}, "WithAdmit"},                         // a plain node has no key to check
		{[]Option{WithCiphers(secure.ChaChaPoly)}, "WithCiphers"}, // a plain node runs no cipher
		{[]Option{WithIdentity(id), WithCiphers(secure.AESGCM)}, "WithCiphers"},
		{[]Option{WithIdentity(id), WithCiphers()}, "WithCiphers"},
		{[]Option{WithIdentity(id), WithCiphers(secure.ChaChaPoly, secure.ChaChaPoly)}, "WithCiphers"},
		{[]Option{WithIdentity(id), WithCiphers(secure.Cipher(9), secure.ChaChaPoly)}, "WithCiphers"},
	}
	for _, tt := range tests {
		_, err := New("n", "127.0.0.1:0", nil, tt.opts...)
		if !errors.Is(err, ErrBadOption) || !strings.Contains(err.Error(), tt.name) {
			t.Errorf("%s: New = %v; want ErrBadOption naming %s", tt.name, err, tt.name)
		}
	}

	// What zero means is documented, and such nodes work.
	ok := [][]Option{
		{WithKeepalive(0)},
		{WithDeadPeerTimeout(0)},
		{WithHighWater(0)},
		{WithDropSlowPeers()}, // on the default mark
		{WithMaxConns(0), WithMaxPendingHandshakes(0), WithMaxInFlight(0)},
		{WithWorkers(0), WithWorkerQueue(0)},
		{WithWorkers(1), WithWorkerQueue(0)},
		{WithMaxFrameSize(config.MinFrameSize), WithHighWater(config.MinFrameSize)},
		{WithIdentity(id), admitAll},
		{WithIdentity(id), WithCiphers(secure.ChaChaPoly)},
		{WithLogger(nil)},
		{WithStallThreshold(0)},
	}
	for i, opts := range ok {
		if _, err := New("n", "127.0.0.1:0", nil, opts...); err != nil {
			t.Errorf("valid options #%d: %v", i, err)
		}
	}
}

// The smallest max frame New accepts still carries the longest hello, on a
// secure link, over real sockets.
func TestMinFrameSizeCarriesLongestHello(t *testing.T) {
	name := strings.Repeat("n", 255)
	opts := func() []Option {
		id, err := secure.Generate()
		if err != nil {
			t.Fatal(err)
		}
		return []Option{WithMaxFrameSize(config.MinFrameSize), WithIdentity(id)}
	}
	srv := startNode(t, name, echo, opts()...)
	cli := startNode(t, strings.Repeat("c", 255), nil, opts()...)
	linkNodes(t, cli, srv)
	if got, err := cli.Dispatch(srv.ID().String(), []byte("x")); err != nil || string(got) != "echo:x" {
		t.Fatalf("Dispatch = %q, %v", got, err)
	}
}

// engine.Mode and the settings' mode number the modes alike: WithMode and
// Node.Mode convert between them.
func TestModeMatchesTheSettings(t *testing.T) {
	for _, m := range []Mode{Persistent, Short} {
		n := startNode(t, "n", nil, WithMode(m))
		if got := n.Mode(); got != m {
			t.Errorf("WithMode(%v): Node.Mode() = %v", m, got)
		}
	}
	if config.Mode(Short) != config.Short || config.Mode(Persistent) != config.Persistent {
		t.Fatal("engine.Mode and config.Mode number the modes differently")
	}
}
