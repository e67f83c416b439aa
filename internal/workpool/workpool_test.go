package workpool

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunsEveryJobOnItsWorkers(t *testing.T) {
	var ran sync.WaitGroup
	var sum, entered, exited atomic.Int64
	p := &Pool[int]{
		Run: func(j *int) { sum.Add(int64(*j)); ran.Done() },
		Enter: func() func() {
			entered.Add(1)
			return func() { exited.Add(1) }
		},
	}
	p.Start(3, 100)
	ran.Add(100)
	for i := 1; i <= 100; i++ {
		if !p.Submit(i) {
			t.Fatalf("job %d refused by a queue of 100", i)
		}
	}
	ran.Wait()
	if busy := p.Stop(context.Background(), time.Minute); busy {
		t.Fatal("Stop with a ctx that never ends reported a busy worker")
	}
	if sum.Load() != 5050 || entered.Load() != 3 || exited.Load() != 3 {
		t.Fatalf("sum %d (want 5050), entered %d, exited %d (want 3)", sum.Load(), entered.Load(), exited.Load())
	}
}

// A full queue refuses at once: Submit never waits for a worker.
func TestSubmitRefusesWhenTheQueueIsFull(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	p := &Pool[int]{Run: func(*int) { started <- struct{}{}; <-release }}
	p.Start(1, 2)
	if !p.Submit(0) {
		t.Fatal("first job refused")
	}
	<-started // the worker holds job 0; the queue is empty
	if !p.Submit(1) || !p.Submit(2) {
		t.Fatal("a queue of 2 refused its jobs")
	}
	if p.Submit(3) {
		t.Fatal("a full queue took a job")
	}
	close(release)
	<-started
	<-started
	p.Stop(context.Background(), time.Minute)
}

func TestUnstartedPoolRefusesAndStopsAtOnce(t *testing.T) {
	var p Pool[int]
	if p.Started() || p.Submit(1) {
		t.Fatal("an unstarted pool took a job")
	}
	if p.Stop(context.Background(), time.Minute) {
		t.Fatal("an unstarted pool reported a busy worker")
	}
}

// After Drop, queued jobs are skipped, not run.
func TestDropSkipsJobsNotStarted(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	var ran, skipped atomic.Int64
	p := &Pool[int]{
		Run: func(j *int) {
			ran.Add(1)
			if *j == 0 {
				close(started)
				<-release
			}
		},
		Skip: func(*int) { skipped.Add(1) },
	}
	p.Start(1, 4)
	p.Submit(0)
	<-started
	for i := 1; i <= 3; i++ {
		p.Submit(i)
	}
	p.Drop()
	close(release)
	p.Stop(context.Background(), time.Minute)
	if ran.Load() != 1 || skipped.Load() != 3 {
		t.Fatalf("ran %d (want 1), skipped %d (want 3)", ran.Load(), skipped.Load())
	}
}

// Once ctx ends, idle workers are given grace to exit; one stuck in Run
// is reported busy and left behind.
func TestStopReportsAWorkerStillBusy(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	started := make(chan struct{})
	p := &Pool[int]{Run: func(*int) { close(started); <-release }}
	p.Start(2, 1)
	p.Submit(0)
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if !p.Stop(ctx, time.Millisecond) {
		t.Fatal("a worker blocked in Run was not reported busy")
	}
}

func TestStopWithEndedContextWaitsForIdleWorkers(t *testing.T) {
	var exited atomic.Int64
	p := &Pool[int]{Run: func(*int) {}, Enter: func() func() { return func() { exited.Add(1) } }}
	p.Start(4, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if p.Stop(ctx, time.Minute) {
		t.Fatal("idle workers reported busy")
	}
	if exited.Load() != 4 {
		t.Fatalf("%d of 4 workers exited before Stop returned", exited.Load())
	}
}
