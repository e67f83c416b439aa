package engine

import (
	"encoding/json"
	"expvar"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// Up and Down events name the peer as its ID says, with its key on a
// secure node.
func TestPeerEvents(t *testing.T) {
	t.Run("plain", func(t *testing.T) { testPeerEvents(t, nil, nil) })
	t.Run("secure", func(t *testing.T) {
		testPeerEvents(t, []Option{WithIdentity(newIdentity(t))}, []Option{WithIdentity(newIdentity(t))})
	})
}

func testPeerEvents(t *testing.T, optsA, optsB []Option) {
	evA := make(chan PeerEvent, 8)
	evB := make(chan PeerEvent, 8)
	a := startNode(t, "a", echo, append(optsA, WithPeerEvents(func(e PeerEvent) { evA <- e }))...)
	b := startNode(t, "b", echo, append(optsB, WithPeerEvents(func(e PeerEvent) { evB <- e }))...)
	linkNodes(t, a, b)
	next := func(ch chan PeerEvent) PeerEvent {
		t.Helper()
		select {
		case e := <-ch:
			return e
		case <-time.After(2 * time.Second):
			t.Fatal("no event")
		}
		return PeerEvent{}
	}
	if e := next(evA); !e.Up || !e.Outbound || e.Peer != b.ID() {
		t.Fatalf("a saw %+v", e)
	}
	if e := next(evB); !e.Up || e.Outbound || e.Peer != a.ID() {
		t.Fatalf("b saw %+v", e)
	}
	if err := a.Delete("b"); err != nil {
		t.Fatal(err)
	}
	if e := next(evA); e.Up || e.Peer != b.ID() {
		t.Fatalf("a saw %+v", e)
	}
	if e := next(evB); e.Up || e.Peer != a.ID() {
		t.Fatalf("b saw %+v", e)
	}
	select {
	case e := <-evA:
		t.Fatalf("extra event %+v", e)
	case e := <-evB:
		t.Fatalf("extra event %+v", e)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestStatsAndExpvar(t *testing.T) {
	a := startNode(t, "a", nil)
	b := startNode(t, "b", echo)
	linkNodes(t, a, b)
	for range 10 {
		if _, err := a.Dispatch("b", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	s := a.Stats()
	if s.Requests != 10 || s.PersistentLinks != 1 || s.InFlight != 0 || s.FramesIn < 11 || s.FramesOut < 10 || s.BytesIn == 0 {
		t.Fatalf("stats: %+v", s)
	}
	b.PublishExpvar("antnet_test_node")
	a.PublishExpvar("antnet_test_other")
	a.PublishExpvar("antnet_test_node") // republishing moves the name
	b.PublishExpvar("antnet_test_node") // and back
	srv := httptest.NewServer(expvar.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/debug/vars")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var vars map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&vars); err != nil {
		t.Fatal(err)
	}
	var got Stats
	if err := json.Unmarshal(vars["antnet_test_node"], &got); err != nil {
		t.Fatalf("antnet_test_node: %v in %s", err, vars["antnet_test_node"])
	}
	if got.FramesIn < 10 || got.PersistentLinks != 1 || got.Peers != 1 {
		t.Fatalf("published stats: %+v", got)
	}
}
