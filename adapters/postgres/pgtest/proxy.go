// Package pgtest holds test helpers for code that talks to PostgreSQL.
package pgtest

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Proxy is a TCP proxy on 127.0.0.1 in front of a database server that a
// test takes down and brings back on the same address, as a database
// restart or a network outage looks to a client, or freezes and thaws, as
// a stalled network path or a stopped (SIGSTOP) middlebox looks.
type Proxy struct {
	tb     testing.TB
	addr   string
	target string

	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
	thawed chan struct{} // closed while forwarding; open while frozen
}

// NewProxy starts a proxy to target (host:port); it is taken down when the
// test ends.
func NewProxy(tb testing.TB, target string) *Proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	thawed := make(chan struct{})
	close(thawed)
	p := &Proxy{tb: tb, addr: ln.Addr().String(), target: target, conns: map[net.Conn]bool{}, thawed: thawed}
	p.serve(ln)
	tb.Cleanup(p.Down)
	return p
}

// Addr returns the proxy's host:port.
func (p *Proxy) Addr() string { return p.addr }

// gate returns the channel that is closed while the proxy forwards.
func (p *Proxy) gate() chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.thawed
}

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			// While frozen a new connection is accepted (as the kernel of
			// a stopped process does) but nothing reaches the server.
			<-p.gate()
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			if p.ln != ln { // taken down while this connection waited
				p.mu.Unlock()
				c.Close()
				up.Close()
				return
			}
			p.conns[c], p.conns[up] = true, true
			p.mu.Unlock()
			go func() { p.pipe(up, c); up.Close(); c.Close() }()
			go func() { p.pipe(c, up); up.Close(); c.Close() }()
		}
	}()
}

// pipe copies src to dst until either fails. While the proxy is frozen,
// what it has read (and the end of src) waits and is delivered on Thaw, in
// order, the way bytes queued in a stopped proxy's sockets are.
func (p *Proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		<-p.gate()
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Freeze stops forwarding in both directions without closing anything:
// connections stay open, new ones are accepted, and every byte waits until
// Thaw. A client sees a database that neither answers nor resets.
func (p *Proxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.thawed:
		p.thawed = make(chan struct{})
	default: // already frozen
	}
}

// Thaw resumes forwarding: what waited during the freeze is delivered,
// including the bytes of clients that gave up and closed their end.
func (p *Proxy) Thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.thawed:
	default:
		close(p.thawed)
	}
}

// Down stops accepting and cuts every proxied connection; a frozen proxy
// is thawed first, so nothing waits forever.
func (p *Proxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
	select {
	case <-p.thawed:
	default:
		close(p.thawed)
	}
}

// Up accepts again on the same address, retrying for up to 5 s while the
// port is still held.
func (p *Proxy) Up() {
	p.tb.Helper()
	var ln net.Listener
	require.Eventually(p.tb, func() bool {
		var err error
		ln, err = net.Listen("tcp", p.addr)
		return err == nil
	}, 5*time.Second, 10*time.Millisecond, "listen again on %s", p.addr)
	p.serve(ln)
}
