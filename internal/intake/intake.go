// Package intake is the way into a reactor for the sockets its owner
// dials and accepts: blocking dials in the caller's goroutine, the
// enrolls in progress, the non-blocking connects in progress
// (tcpconnect), and those no caller polls, which the owner's ticker
// advances. Close shuts the way in: nothing enrolls from then on,
// blocking dials are cancelled and connects in progress aborted; Wait
// then waits for the enrolls under way. No goroutine of its own (a
// bounded Wait starts one to wait for the enrolls); safe for concurrent
// use.
//
// P is what the owner enrolls a socket with (its link). The owner says
// how to enroll (Enroll, which waits for a loop: never call it on one)
// and how its errors read (Wrap, Closed).
package intake

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/antnet-p2p/antnet/internal/tcpconnect"
)

// ErrAborted is the cause Wrap gets for a connect given up by Abort or
// Close.
var ErrAborted = tcpconnect.ErrAborted

// Intake is one reactor's way in. Set the exported fields, then Open;
// Close once.
type Intake[P any] struct {
	// Dialer makes the blocking dials (Connect): its timeout and hooks.
	Dialer net.Dialer
	// Enroll hands a connected socket to the reactor with p as its
	// context; it may wait for a loop.
	Enroll func(c net.Conn, p P) error
	// Wrap turns a failed connect's or enroll's cause into the error the
	// owner reports for p: ErrAborted for a connect given up, the
	// context's error for a Wait ended by its context. nil: as is.
	Wrap func(p P, err error) error
	// Closed is the error Add and Start return once Close has run.
	Closed error

	ctx    context.Context // cancelled by Close: ends blocking dials
	cancel context.CancelFunc

	mu       sync.Mutex
	off      bool                  // closed: nothing enrolls any more
	enrolls  sync.WaitGroup        // Enroll calls in progress
	attempts map[*Dial[P]]struct{} // non-blocking connects in progress
	orphans  []*Dial[P]            // connects no caller polls: PollBackground does
}

// Open readies the intake; call it before any dial.
func (in *Intake[P]) Open() {
	in.ctx, in.cancel = context.WithCancel(context.Background())
	in.attempts = make(map[*Dial[P]]struct{})
}

// Context is cancelled by Close: what waits on the network for the owner
// (a blocking exchange in a caller's goroutine) ends with it.
func (in *Intake[P]) Context() context.Context { return in.ctx }

// Connect dials addr with Dialer in the caller's goroutine, bounded by
// the dialer's timeout, ctx and Close. The error is the dialer's. Blocks.
func (in *Intake[P]) Connect(ctx context.Context, addr string) (net.Conn, error) {
	if ctx.Done() == nil {
		ctx = in.ctx
	} else {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(in.ctx, cancel)()
	}
	return in.Dialer.DialContext(ctx, "tcp", addr)
}

// Add enrolls c with p unless the intake is closed; then c is closed and
// Add returns Closed. Close waits (Wait) for the Adds in progress.
func (in *Intake[P]) Add(c net.Conn, p P) error {
	in.mu.Lock()
	if in.off {
		in.mu.Unlock()
		_ = c.Close()
		return in.Closed
	}
	in.enrolls.Add(1)
	in.mu.Unlock()
	defer in.enrolls.Done()
	return in.Enroll(c, p)
}

// wrap is Wrap, or err as it is.
func (in *Intake[P]) wrap(p P, err error) error {
	if in.Wrap == nil {
		return err
	}
	return in.Wrap(p, err)
}

// Dial is a non-blocking connect in progress for P. Start it with Start,
// then call Poll until it reports done; Abort gives it up. On success the
// socket is enrolled with P.
type Dial[P any] struct {
	P P

	in *Intake[P]
	at *tcpconnect.Attempt

	mu   sync.Mutex // held across a poll's enroll: one outcome
	done bool
	err  error // the outcome, once done
}

// Start starts connecting to addr for p without waiting, given up at
// timeout. The intake tracks the dial until it finishes, so Close can
// abort it. Errors are Wrap's, or Closed. Any goroutine; resolving a host
// name may block (addresses given as IPs do not).
func (in *Intake[P]) Start(addr string, timeout time.Duration, p P) (*Dial[P], error) {
	raddr, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, in.wrap(p, err)
	}
	at, err := tcpconnect.Start(raddr, timeout)
	if err != nil {
		return nil, in.wrap(p, err)
	}
	d := &Dial[P]{P: p, in: in, at: at}
	in.mu.Lock()
	if in.off {
		in.mu.Unlock()
		at.Abort()
		return nil, in.Closed
	}
	in.attempts[d] = struct{}{}
	in.mu.Unlock()
	return d, nil
}

// Poll checks the connect without waiting; once done, err is the outcome
// (Wrap's) and a connected socket is enrolled (Add), which may wait for a
// loop: not on one. Safe to call again after done.
func (d *Dial[P]) Poll() (done bool, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.done {
		return true, d.err
	}
	c, done, err := d.at.Poll()
	if !done {
		return false, nil
	}
	d.in.untrack(d)
	if err == nil {
		err = d.in.Add(c, d.P)
	}
	if err != nil {
		err = d.in.wrap(d.P, err)
	}
	d.done, d.err = true, err
	return true, err
}

// Wait polls until the dial is done or ctx ends (then it aborts it and
// returns Wrap of ctx's error), sleeping in poll(2) between checks.
// Blocks; not on a loop.
func (d *Dial[P]) Wait(ctx context.Context) error {
	for {
		done, err := d.Poll()
		if done {
			return err
		}
		select {
		case <-ctx.Done():
			d.Abort()
			return d.in.wrap(d.P, ctx.Err())
		default:
		}
		d.at.Sleep(10 * time.Millisecond)
	}
}

// Abort gives the dial up and closes its descriptor; a later Poll reports
// Wrap of ErrAborted. A no-op once done.
func (d *Dial[P]) Abort() {
	if !d.at.Abort() {
		return
	}
	d.mu.Lock()
	if !d.done {
		d.done, d.err = true, d.in.wrap(d.P, ErrAborted)
	}
	d.mu.Unlock()
	d.in.untrack(d)
}

func (in *Intake[P]) untrack(d *Dial[P]) {
	in.mu.Lock()
	delete(in.attempts, d)
	in.mu.Unlock()
}

// Background leaves d to PollBackground. With now (the caller may enroll:
// not on a loop) it is polled once first and kept only if still in
// progress; failed gets its error if that poll ends it. Never blocks
// beyond an enroll.
func (in *Intake[P]) Background(d *Dial[P], now bool, failed func(p P, err error)) {
	if now {
		if done, err := d.Poll(); done {
			if err != nil {
				failed(d.P, err)
			}
			return
		}
	}
	in.mu.Lock()
	in.orphans = append(in.orphans, d)
	in.mu.Unlock()
}

// PollBackground polls the dials left to it once each; failed gets each
// failure. It reports whether some are still in progress. The owner's
// ticker: not on a loop.
func (in *Intake[P]) PollBackground(failed func(p P, err error)) (pending bool) {
	in.mu.Lock()
	list := in.orphans
	in.orphans = nil
	in.mu.Unlock()
	var left []*Dial[P]
	for _, d := range list {
		done, err := d.Poll()
		switch {
		case !done:
			left = append(left, d)
		case err != nil:
			failed(d.P, err)
		}
	}
	if len(left) > 0 {
		in.mu.Lock()
		in.orphans = append(in.orphans, left...)
		in.mu.Unlock()
	}
	return len(left) > 0
}

// Close shuts the way in: no enroll from now on, blocking dials
// cancelled, non-blocking ones aborted. It does not wait (see Wait).
func (in *Intake[P]) Close() {
	in.mu.Lock()
	in.off = true
	dials := make([]*Dial[P], 0, len(in.attempts))
	for d := range in.attempts {
		dials = append(dials, d)
	}
	in.mu.Unlock()
	if in.cancel != nil {
		in.cancel()
	}
	for _, d := range dials {
		d.Abort()
	}
}

// ErrEnrollStuck is Wait's report of an enroll that did not return in
// time.
var ErrEnrollStuck = errors.New("intake: an enroll did not return")

// Wait waits, after Close, for the enrolls in progress, up to wait (0: no
// bound); past it, it returns ErrEnrollStuck and leaves them.
func (in *Intake[P]) Wait(wait time.Duration) error {
	if wait <= 0 {
		in.enrolls.Wait()
		return nil
	}
	done := make(chan struct{})
	go func() { in.enrolls.Wait(); close(done) }()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
		return ErrEnrollStuck
	}
}
