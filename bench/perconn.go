package main

import (
	"errors"
	"net"
	"sync"
)

// perConnListener is the accept loop both goroutine baselines run: each
// accepted connection is served by a goroutine of its own, which closes it
// when serve returns. Close closes the listener and every open connection,
// and waits for the goroutines.
type perConnListener struct {
	ln    net.Listener
	serve func(net.Conn)
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{} // nil once closing
}

// startPerConn starts accepting on ln.
func startPerConn(ln net.Listener, serve func(net.Conn)) *perConnListener {
	p := &perConnListener{ln: ln, serve: serve, conns: make(map[net.Conn]struct{})}
	p.wg.Add(1)
	go p.accept()
	return p
}

func (p *perConnListener) Addr() string { return p.ln.Addr().String() }

// openConns is how many accepted connections are being served.
func (p *perConnListener) openConns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

func (p *perConnListener) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.conns == nil {
			p.mu.Unlock()
			_ = c.Close()
			return
		}
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(1)
		go p.handle(c)
	}
}

func (p *perConnListener) handle(c net.Conn) {
	defer p.wg.Done()
	defer func() {
		p.mu.Lock()
		if p.conns != nil {
			delete(p.conns, c)
		}
		p.mu.Unlock()
		_ = c.Close()
	}()
	p.serve(c)
}

func (p *perConnListener) Close() error {
	err := p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
