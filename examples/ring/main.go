// Command ring starts peers joined in a ring, broadcasts lines from one of
// them, and shows each line arriving exactly once at every other peer, relayed
// hop by hop with no broadcast storm.
//
//	go run ./examples/ring              # the demo: 6 peers, 3 lines, exits 0
//	go run ./examples/ring -peers 10    # a bigger ring
//	go run ./examples/ring -stdin       # broadcast each line you type
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/antnet-p2p/antnet/engine"
	"github.com/antnet-p2p/antnet/proto"
)

func main() {
	peers := flag.Int("peers", 6, "peers in the ring (at least 3)")
	stdin := flag.Bool("stdin", false, "broadcast lines read from standard input")
	flag.Parse()
	lines := []string{"hello, ring", "one line, one delivery per peer", "goodbye"}
	var in io.Reader
	if *stdin {
		lines, in = nil, os.Stdin
	}
	if err := run(os.Stdout, *peers, lines, in); err != nil {
		fmt.Fprintln(os.Stderr, "ring:", err)
		os.Exit(1)
	}
}

// run builds the ring, broadcasts each line (then each line of in, if any)
// from peer 0, and checks every other peer delivered each exactly once.
func run(out io.Writer, size int, lines []string, in io.Reader) error {
	if size < 3 {
		return fmt.Errorf("a ring needs at least 3 peers, got %d", size)
	}
	var mu sync.Mutex
	got := map[string]map[string]int{} // line -> peer -> deliveries
	nodes := make([]*engine.Node, size)
	for i := range nodes {
		name := fmt.Sprintf("peer-%d", i)
		h := proto.HandlerFunc(func(ctx proto.Context, msg []byte) ([]byte, error) {
			mu.Lock()
			defer mu.Unlock()
			line := string(msg)
			if got[line] == nil {
				got[line] = map[string]int{}
			}
			got[line][name]++
			fmt.Fprintf(out, "  %-8s got %q from %s via %s\n", name, line, ctx.Origin().Name, ctx.Peer().Name)
			return nil, nil
		})
		n, err := engine.New(name, "127.0.0.1:0", h, engine.WithEventLoops(1))
		if err != nil {
			return err
		}
		if err := n.Start(); err != nil {
			return err
		}
		defer n.Close()
		nodes[i] = n
	}
	for i, n := range nodes {
		next := nodes[(i+1)%size]
		if err := n.AddRoute(next.ID().Name, next.Addr()); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "%d peers in a ring: each links to the next\n", size)

	send := func(line string) error {
		fmt.Fprintf(out, "%s broadcasts %q\n", nodes[0].ID().Name, line)
		if _, err := nodes[0].Broadcast([]byte(line)); err != nil {
			return err
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			mu.Lock()
			n := len(got[line])
			mu.Unlock()
			if n == size-1 {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%q reached %d of %d peers", line, n, size-1)
			}
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond) // let any duplicate show itself
		mu.Lock()
		defer mu.Unlock()
		for peer, c := range got[line] {
			if c != 1 {
				return fmt.Errorf("%s delivered %q %d times", peer, line, c)
			}
		}
		return nil
	}
	for _, l := range lines {
		if err := send(l); err != nil {
			return err
		}
	}
	if in != nil {
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			if l := strings.TrimSpace(sc.Text()); l != "" {
				if err := send(l); err != nil {
					return err
				}
			}
		}
	}
	var dropped uint64
	for _, n := range nodes {
		dropped += n.Stats().GossipDuplicates
	}
	fmt.Fprintf(out, "every line reached each of the %d other peers exactly once; %d relayed copies were recognised and dropped\n", size-1, dropped)
	return nil
}
