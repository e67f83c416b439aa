// Package pending holds the futures of requests on their way: one caller
// waiting for one answer. Futures are pooled, so a request costs no
// channel and no timer of its own.
package pending

import (
	"sync"
	"time"
)

// Future is one caller waiting for an answer. Futures are pooled: the
// channel and the timer are made once.
type Future struct {
	Done  chan struct{} // takes one signal: Complete's
	Timer *time.Timer   // stopped; the caller's deadline, for the caller to Reset and Stop
	Reply []byte        // the answer's copy, read after Done
	Err   error         // the answer's error, read after Done
}

var pool = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &Future{Done: make(chan struct{}, 1), Timer: t}
}}

// Get returns a future from the pool, its Done empty and its Timer stopped.
func Get() *Future { return pool.Get().(*Future) }

// Put returns f to the pool. Its Done must be empty (its signal taken) and
// its Timer stopped; Reply keeps its array for the next answer.
func Put(f *Future) {
	f.Err = nil
	f.Reply = f.Reply[:0]
	pool.Put(f)
}

// Complete copies reply (it aliases the loop's read buffer) and signals.
func (f *Future) Complete(reply []byte, err error) {
	f.Reply = append(f.Reply[:0], reply...)
	f.Err = err
	f.Done <- struct{}{}
}
