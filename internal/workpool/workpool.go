// Package workpool runs jobs on a fixed number of goroutines fed by one
// bounded queue. Submit never waits: a full queue is refused and left to
// the caller to answer, so an event loop can hand work off safely.
package workpool

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Pool is a fixed set of workers and their queue of jobs of type J. Set
// the funcs, then Start once and Stop once; Submit from any goroutine. A
// job costs one channel send; the pool runs no goroutine but its workers.
type Pool[J any] struct {
	Run   func(*J)             // runs one job, on a worker
	Skip  func(*J)             // after Drop, called instead of Run for a job not yet started; nil: none
	Enter func() (exit func()) // called by each worker as it starts, exit as it ends; nil: none

	queue chan J
	wg    sync.WaitGroup
	drop  atomic.Bool
}

// Start runs count workers on a queue of size jobs.
func (p *Pool[J]) Start(count, size int) {
	p.queue = make(chan J, size)
	for range count {
		p.wg.Add(1)
		go p.work()
	}
}

func (p *Pool[J]) work() {
	defer p.wg.Done()
	if p.Enter != nil {
		defer p.Enter()()
	}
	for j := range p.queue {
		if p.drop.Load() {
			if p.Skip != nil {
				p.Skip(&j)
			}
			continue
		}
		p.Run(&j)
	}
}

// Started reports whether Start ran.
func (p *Pool[J]) Started() bool { return p.queue != nil }

// Submit queues j without waiting; false when the queue is full (or the
// pool not started). Not after Stop.
func (p *Pool[J]) Submit(j J) bool {
	select {
	case p.queue <- j:
		return true
	default:
		return false
	}
}

// Drop makes the workers Skip the jobs they have not started yet.
func (p *Pool[J]) Drop() { p.drop.Store(true) }

// Stop closes the queue and waits for the workers until ctx ends, then up
// to grace more for idle ones to exit. It reports whether a worker is
// still busy in Run (left running, not waited for). A no-op before Start.
func (p *Pool[J]) Stop(ctx context.Context, grace time.Duration) (busy bool) {
	if p.queue == nil {
		return false
	}
	close(p.queue)
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
		return false
	case <-ctx.Done():
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-done:
			return false
		case <-t.C:
			return true
		}
	}
}
