package inorder

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

func TestDeliversInOrderOneAtATime(t *testing.T) {
	var got []int
	var in atomic.Int32
	q := &Queue[int]{Deliver: func(v int) {
		if in.Add(1) != 1 {
			t.Error("two deliveries at once")
		}
		got = append(got, v)
		in.Add(-1)
	}}
	var order sync.Mutex // the caller's lock: values are queued under it, flushed after
	next := 0
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 500 {
				order.Lock()
				q.Add(next)
				next++
				order.Unlock()
				q.Flush()
			}
		})
	}
	wg.Wait()
	q.Flush()
	if len(got) != 4000 {
		t.Fatalf("delivered %d of 4000", len(got))
	}
	if !slices.IsSorted(got) {
		t.Fatal("delivered out of order")
	}
}

// A Flush while another goroutine delivers returns at once; the one
// delivering takes the new value too.
func TestFlushDuringDeliveryLeavesItToTheDeliverer(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var got []string
	q := &Queue[string]{Deliver: func(v string) {
		if v == "first" {
			close(entered)
			<-release
		}
		got = append(got, v)
	}}
	q.Add("first")
	done := make(chan struct{})
	go func() { q.Flush(); close(done) }()
	<-entered
	q.Add("second")
	q.Flush() // returns at once: "first" is being delivered
	close(release)
	<-done
	if !slices.Equal(got, []string{"first", "second"}) {
		t.Fatalf("delivered %q", got)
	}
}

// Deliver may queue and flush: the value goes after the current one.
func TestDeliverMayQueueMore(t *testing.T) {
	var got []int
	var q *Queue[int]
	q = &Queue[int]{Deliver: func(v int) {
		got = append(got, v)
		if v < 3 {
			q.Add(v + 1)
			q.Flush()
		}
	}}
	q.Add(0)
	q.Flush()
	if !slices.Equal(got, []int{0, 1, 2, 3}) {
		t.Fatalf("delivered %v", got)
	}
}

func TestNilDeliverDropsEverything(t *testing.T) {
	var q Queue[int]
	q.Add(1)
	q.Flush()
	if len(q.queue) != 0 {
		t.Fatalf("queue without Deliver kept %d values", len(q.queue))
	}
}
