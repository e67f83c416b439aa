package gorole

import (
	"testing"

	"github.com/antnet-p2p/antnet/internal/goid"
)

const (
	loop Role = iota + 1
	callback
)

func TestMarkRestoresThePreviousRole(t *testing.T) {
	var s Set
	id := goid.ID()
	if s.Of(id) != 0 {
		t.Fatal("empty set has a role")
	}
	unloop := s.Mark(id, loop)
	uncall := s.Mark(id, callback)
	if s.Of(id) != callback {
		t.Fatalf("role %d, want callback", s.Of(id))
	}
	uncall()
	if s.Of(id) != loop {
		t.Fatalf("after the callback: role %d, want loop", s.Of(id))
	}
	unloop()
	if s.Of(id) != 0 {
		t.Fatalf("after both: role %d, want none", s.Of(id))
	}
}

// Caller sees the role only while user code runs somewhere.
func TestCallerOnlyWhileUserCodeRuns(t *testing.T) {
	var s Set
	defer s.Mark(goid.ID(), loop)()
	if s.Caller() != 0 {
		t.Fatal("Caller saw a role with no user code running")
	}
	s.Enter()
	if s.Caller() != loop {
		t.Fatalf("Caller %d inside user code, want loop", s.Caller())
	}
	other := make(chan Role)
	go func() { other <- s.Caller() }()
	if r := <-other; r != 0 {
		t.Fatalf("another goroutine has role %d", r)
	}
	s.Exit()
	if s.Caller() != 0 {
		t.Fatal("Caller saw a role after Exit")
	}
}

func TestRolesArePerGoroutine(t *testing.T) {
	var s Set
	s.Put(goid.ID(), loop)
	done := make(chan Role)
	go func() {
		id := goid.ID()
		s.Put(id, callback)
		r := s.Of(id)
		s.Put(id, 0)
		done <- r
	}()
	if r := <-done; r != callback {
		t.Fatalf("other goroutine's role %d, want callback", r)
	}
	if s.Of(goid.ID()) != loop {
		t.Fatal("this goroutine's role changed")
	}
}

// Of, and Caller while no user code runs (the common case), do not
// allocate.
func TestOfAndIdleCallerDoNotAllocate(t *testing.T) {
	var s Set
	id := goid.ID()
	s.Put(id, loop)
	if a := testing.AllocsPerRun(100, func() { _ = s.Of(id); _ = s.Caller() }); a != 0 {
		t.Fatalf("%v allocs", a)
	}
}

// Callback runs f as the callback role, counted as user code, gives the
// role back after, keeps a loop a loop, and returns f's panic.
func TestCallback(t *testing.T) {
	var s Set
	id := goid.ID()
	var inside Role
	if p := s.Callback(id, callback, loop, func() { inside = s.Caller() }); p != nil || inside != callback {
		t.Fatalf("in the callback: role %d, panic %v; want callback, none", inside, p)
	}
	if s.Of(id) != 0 || s.Caller() != 0 {
		t.Fatalf("after the callback: role %d, caller %d; want none", s.Of(id), s.Caller())
	}
	defer s.Mark(id, loop)()
	p := s.Callback(id, callback, loop, func() { inside = s.Caller(); panic("boom") })
	if p != "boom" || inside != loop {
		t.Fatalf("on a loop: role %d, panic %v; want loop, boom", inside, p)
	}
	if s.Of(id) != loop || s.Caller() != 0 {
		t.Fatalf("after a panicking callback on a loop: role %d, caller %d; want loop, 0 (Exit ran)", s.Of(id), s.Caller())
	}
}
