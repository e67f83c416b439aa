package engine

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/antnet-p2p/antnet/proto"
)

// The redialer must not hold the upkeep tenant's lock while it enrolls a
// connected socket: the enroll waits for an event loop, and a loop may be
// waiting for that lock (PeerStates in a handler): a peer would wedge for
// good after a cut link healed. Here a handler keeps a's only loop busy
// while a's redial of b connects, then calls PeerStates, which must
// return.
func TestRedialEnrollDoesNotHoldTheRedialLock(t *testing.T) {
	var a atomic.Pointer[Node]
	entered, release, statesDone := make(chan struct{}), make(chan struct{}), make(chan struct{})
	block := proto.HandlerFunc(func(_ proto.Context, msg []byte) ([]byte, error) {
		close(entered)
		<-release // the test holds the loop here until the redial's enroll waits on it
		a.Load().PeerStates()
		close(statesDone)
		return []byte("ok"), nil
	})
	a.Store(startNode(t, "a", block, WithEventLoops(1), WithRedialBackoff(20*time.Millisecond), WithRedialMaxBackoff(40*time.Millisecond)))

	free := rawListener(t)
	addr := free.Addr().String()
	_ = free.Close()
	if err := a.Load().AddRoute("b", addr); err == nil {
		t.Fatal("AddRoute to a closed port succeeded")
	} // the route stays, redialed every 20-40ms

	c := startNode(t, "c", echo)
	linkNodes(t, c, a.Load())
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = c.Dispatch("a", []byte("hold the loop"))
	}()
	<-entered

	ln, err := net.Listen("tcp", addr) // b comes up: the next redial connects
	if err != nil {
		t.Skipf("port %s taken again: %v", addr, err)
	}
	var accepted atomic.Int32
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, conn)
			accepted.Add(1)
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
		for _, conn := range conns {
			_ = conn.Close()
		}
	})
	eventually(t, 5*time.Second, "a's redial of b connected", func() bool { return accepted.Load() > 0 })
	// The ticker enrolls the socket on a's loop, which is busy: the ticker
	// waits, and the node clock it keeps stops.
	eventually(t, 5*time.Second, "a's ticker waiting for its enroll", func() bool {
		return time.Since(nodeClock(a.Load())) > 10*tickEvery
	})
	close(release)
	select {
	case <-statesDone:
	case <-time.After(5 * time.Second):
		t.Fatal("PeerStates on the event loop deadlocked with the redialer's enroll")
	}
	eventually(t, 5*time.Second, "a's ticker running again", func() bool {
		return time.Since(nodeClock(a.Load())) < 5*tickEvery
	})
}
