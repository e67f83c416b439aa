// Package gorole records which goroutines play a role for a library (its
// event loops, its workers, one running a user's callback), so that a call
// that would deadlock there can be refused instead. Goroutines are named
// by id (internal/goid: about a microsecond to read); while no user code
// runs anywhere, Caller costs one atomic load.
package gorole

import (
	"sync"
	"sync/atomic"

	"github.com/antnet-p2p/antnet/internal/goid"
)

// Role is what a goroutine is to the library; 0 is none.
type Role uint8

// Set maps goroutine ids to roles and counts the user code running. The
// zero value is empty. Safe for concurrent use. Of, and Caller while no
// user code runs, allocate nothing; Put and Mark store a map entry.
type Set struct {
	running atomic.Int32 // user code running now: Enter, not yet Exit
	roles   sync.Map     // goroutine id -> Role
}

// Of returns goroutine id's role, 0 for none.
func (s *Set) Of(id uint64) Role {
	r, _ := s.roles.Load(id)
	role, _ := r.(Role)
	return role
}

// Put gives goroutine id role r; 0 takes its role away.
func (s *Set) Put(id uint64, r Role) {
	if r == 0 {
		s.roles.Delete(id)
		return
	}
	s.roles.Store(id, r)
}

// Mark gives goroutine id role r until restore runs, which gives back the
// role it had.
func (s *Set) Mark(id uint64, r Role) (restore func()) {
	prev := s.Of(id)
	s.Put(id, r)
	return func() { s.Put(id, prev) }
}

// Enter counts user code (a handler, a callback) as running, until Exit.
func (s *Set) Enter() { s.running.Add(1) }

// Exit ends what Enter began.
func (s *Set) Exit() { s.running.Add(-1) }

// Caller returns the calling goroutine's role while user code runs
// anywhere, else 0: a goroutine that calls in while none runs cannot be
// inside it.
func (s *Set) Caller() Role {
	if s.running.Load() == 0 {
		return 0
	}
	return s.Of(goid.ID())
}

// Callback runs f, user code, on the calling goroutine (id) as role r:
// calls f makes see r, unless the goroutine plays keep already (a loop
// running a callback stays a loop), and f counts as user code running
// (Enter, Exit). Its role is given back after f, and a panic in f is
// recovered and returned.
func (s *Set) Callback(id uint64, r, keep Role, f func()) (panicked any) {
	s.Enter()
	prev := s.Of(id)
	if prev != keep {
		s.Put(id, r)
	}
	defer func() {
		if prev != keep {
			s.Put(id, prev)
		}
		s.Exit()
		panicked = recover()
	}()
	f()
	return nil
}
