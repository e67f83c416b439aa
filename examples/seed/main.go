// Command seed replays the two flows of antnet's original design: three
// peers, a greeting state machine between luda and yoghurt, a DispatchAll,
// a Delete. It runs once with short connections, once with persistent ones,
// checks every step and exits non-zero if one misbehaved.
//
//	go run ./examples/seed [-base-port 12345]
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/antnet-p2p/antnet/engine"
	"github.com/antnet-p2p/antnet/proto"
)

// errListen marks a node that could not bind its port.
var errListen = errors.New("cannot listen")

func main() {
	base := flag.Int("base-port", 12345, "luda listens on this port, yoghurt and kefir on the next two")
	flag.Parse()
	if err := run(os.Stdout, *base); err != nil {
		fmt.Fprintln(os.Stderr, "seed: FAILED:", err)
		if errors.Is(err, errListen) {
			fmt.Fprintln(os.Stderr, "seed: pick free ports with -base-port")
		}
		os.Exit(1)
	}
}

// run plays both flows on ports base..base+2.
func run(w io.Writer, base int) error {
	if base < 1 || base > 65535-2 {
		return fmt.Errorf("base port %d out of range", base)
	}
	for _, mode := range []engine.Mode{engine.Short, engine.Persistent} {
		fmt.Fprintf(w, "== %s mode ==\n", mode)
		if err := flow(w, mode, base); err != nil {
			return fmt.Errorf("%s mode: %w", mode, err)
		}
	}
	fmt.Fprintln(w, "all checks passed")
	return nil
}

// flow starts luda, yoghurt and kefir in mode and plays the seed's scenario.
func flow(w io.Writer, mode engine.Mode, base int) (err error) {
	names := []string{"luda", "yoghurt", "kefir"}
	nodes := make([]*Protocol, 0, len(names))
	defer func() {
		for _, p := range nodes {
			if cerr := p.Node.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("close %s: %w", p.name, cerr)
			}
		}
	}()
	for i, name := range names {
		addr := "127.0.0.1:" + strconv.Itoa(base+i)
		p, err := NewProtocol(name, addr, engine.WithMode(mode), engine.WithTimeout(2*time.Second))
		if err != nil {
			return err
		}
		if err := p.Node.Start(); err != nil {
			return fmt.Errorf("%s %w on %s: %v", name, errListen, addr, err)
		}
		nodes = append(nodes, p)
	}
	luda, yoghurt, kefir := nodes[0], nodes[1], nodes[2]
	for _, p := range nodes[1:] {
		if err := luda.Node.AddRoute(p.name, p.Node.Addr()); err != nil {
			return fmt.Errorf("luda adds %s: %w", p.name, err)
		}
	}
	fmt.Fprintf(w, "luda routes: %v\n", luda.Node.Peers())

	// The greeting state machine, driven by luda.
	if err := luda.Greet("yoghurt", w); err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	// Short mode: yoghurt learned luda from connect-req. Persistent: at the handshake.
	if err := yoghurt.Settle(); err != nil {
		return fmt.Errorf("yoghurt adds luda: %w", err)
	}
	if !slices.Contains(yoghurt.Node.Peers(), luda.Node.ID()) {
		return fmt.Errorf("yoghurt has no route to luda after the greeting: %v", yoghurt.Node.Peers())
	}
	fmt.Fprintf(w, "yoghurt routes: %v\n", yoghurt.Node.Peers())

	// Off-script messages: an unknown operation, then bytes that are not JSON.
	reply, err := luda.Node.Dispatch("yoghurt", []byte(`{"name":"luda","operation":"dance"}`))
	if err != nil || Op(reply) != UnknownOp {
		return fmt.Errorf("unknown operation: got %q, %v; want %s", reply, err, UnknownOp)
	}
	fmt.Fprintf(w, "luda -> yoghurt  dance: %s\n", UnknownOp)
	_, err = luda.Node.Dispatch("yoghurt", []byte("not json"))
	if !errors.Is(err, proto.ErrRemote) {
		return fmt.Errorf("malformed message: got %v, want a remote error", err)
	}
	fmt.Fprintf(w, "luda -> yoghurt  not json: %v\n", err)

	// Everyone, then everyone but yoghurt.
	want := []proto.PeerID{yoghurt.Node.ID(), kefir.Node.ID()}
	if err := dispatchAll(w, luda, want); err != nil {
		return err
	}
	if err := luda.Node.Delete("yoghurt"); err != nil {
		return fmt.Errorf("delete yoghurt: %w", err)
	}
	fmt.Fprintln(w, "luda deletes yoghurt")
	seen := yoghurt.Handled()
	if err := dispatchAll(w, luda, want[1:]); err != nil {
		return err
	}
	if n := yoghurt.Handled(); n != seen {
		return fmt.Errorf("yoghurt still got %d message(s) after its route was deleted", n-seen)
	}
	return nil
}

// dispatchAll sends get-req to all of from's peers, prints the replies and
// checks that exactly want answered get-resp.
func dispatchAll(w io.Writer, from *Protocol, want []proto.PeerID) error {
	res := from.Node.DispatchAll(from.message(GetReq, nil))
	fmt.Fprintf(w, "luda DispatchAll %s:\n", GetReq)
	keys := slices.Sorted(maps.Keys(res))
	for _, k := range keys {
		if r := res[k]; r.Err != nil {
			fmt.Fprintf(w, "  %-24s error: %v\n", k, r.Err)
		} else {
			fmt.Fprintf(w, "  %-24s %s\n", k, r.Reply)
		}
	}
	var wantKeys []string
	for _, id := range want {
		wantKeys = append(wantKeys, id.String())
	}
	slices.Sort(wantKeys)
	if !slices.Equal(keys, wantKeys) {
		return fmt.Errorf("DispatchAll reached %v, want %v", keys, wantKeys)
	}
	for _, k := range keys {
		if r := res[k]; r.Err != nil || Op(r.Reply) != GetResp {
			return fmt.Errorf("DispatchAll: %s answered %q, %v; want %s", k, r.Reply, r.Err, GetResp)
		}
	}
	return nil
}
