// Package inorder hands values to a callback one at a time, in the order
// they were queued, without a goroutine of its own: whichever caller
// flushes first delivers, its values and those others queue meanwhile. So
// values can be queued under a lock the callback must not run under, and
// delivered once it is released.
package inorder

import "sync"

// Queue holds the values not yet delivered. Set Deliver before first use;
// with Deliver nil, Add and Flush do nothing. Safe for concurrent use; Add
// costs a lock and an append, Flush a lock per value.
type Queue[T any] struct {
	Deliver func(T)

	mu         sync.Mutex
	queue      []T  // queued, not yet delivered, in order
	delivering bool // a goroutine is in Flush's loop
}

// Add queues v.
func (q *Queue[T]) Add(v T) {
	if q.Deliver == nil {
		return
	}
	q.mu.Lock()
	q.queue = append(q.queue, v)
	q.mu.Unlock()
}

// Flush delivers the queued values in order, unless another goroutine is
// delivering already: then it returns at once and that goroutine delivers
// them. Deliver may call Add and Flush.
func (q *Queue[T]) Flush() {
	if q.Deliver == nil {
		return
	}
	q.mu.Lock()
	if q.delivering {
		q.mu.Unlock()
		return
	}
	q.delivering = true
	var zero T
	for len(q.queue) > 0 {
		v := q.queue[0]
		q.queue[0] = zero
		q.queue = q.queue[1:]
		q.mu.Unlock()
		q.Deliver(v)
		q.mu.Lock()
	}
	q.queue = q.queue[:0]
	q.delivering = false
	q.mu.Unlock()
}
