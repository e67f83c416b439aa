package engine

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// Close is prompt, whatever the handlers do: with 1,000 requests its
// handler deferred and never answers, and requests of its own deferred by
// the peer, it returns within closeBound, its own callers fail with
// ErrClosed and the peer's callers with ErrPeerClosed, all at once.
func TestCloseIsPrompt(t *testing.T) {
	const calls, own = 1000, 100
	// closeBound is generous for a loaded 2-core machine under -race; the
	// figure logged is the real one (2-13 ms under -race on 2 busy cores).
	const closeBound = time.Second
	srv := startNode(t, "srv", never)
	cli := startNode(t, "cli", never, WithTimeout(30*time.Second))
	linkNodes(t, cli, srv)
	var wg sync.WaitGroup
	peerSide := dispatchMany(&wg, cli, "srv", calls)
	ownSide := dispatchMany(&wg, srv, "cli", own)
	eventually(t, 20*time.Second, "every request deferred on both sides", func() bool {
		return srv.stats.Serving.Load() == calls && cli.stats.Serving.Load() == own
	})
	start := time.Now()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	wg.Wait()
	close(peerSide)
	close(ownSide)
	var lastPeer time.Duration
	var bad []error
	for o := range peerSide {
		if !errors.Is(o.err, ErrPeerClosed) {
			bad = append(bad, fmt.Errorf("peer's caller: %w, want ErrPeerClosed", o.err))
		}
		lastPeer = max(lastPeer, o.at.Sub(start))
	}
	for o := range ownSide {
		if !errors.Is(o.err, ErrClosed) {
			bad = append(bad, fmt.Errorf("own caller: %w, want ErrClosed", o.err))
		}
	}
	t.Logf("Close with %d deferred requests took %v; the peer's %d callers all failed within %v", calls, took, calls, lastPeer)
	if len(bad) > 0 {
		t.Fatalf("%d callers failed otherwise, first: %v", len(bad), bad[0])
	}
	if took > closeBound {
		t.Fatalf("Close took %v with deferred requests, bound %v", took, closeBound)
	}
	if lastPeer > closeBound {
		t.Fatalf("the peer's callers failed %v after Close began, bound %v", lastPeer, closeBound)
	}
}

// outcome is how one call ended, and when.
type outcome struct {
	err error
	at  time.Time
}

// dispatchMany starts count callers of from.Dispatch(to), each in its own
// goroutine counted in wg, and returns where their outcomes arrive.
func dispatchMany(wg *sync.WaitGroup, from *Node, to string, count int) chan outcome {
	out := make(chan outcome, count)
	for range count {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := from.Dispatch(to, []byte("q"))
			out <- outcome{err, time.Now()}
		}()
	}
	return out
}
