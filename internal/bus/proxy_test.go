package bus_test

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// blackholeProxy forwards loopback TCP connections to a server. Blackhole
// makes the connections open so far go silent without closing them, like a
// server that lost power or a NAT that forgot the flow: writes succeed, no
// reply ever comes. Connections opened later are forwarded again.
type blackholeProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	links  []*link
}

type link struct {
	client, server net.Conn
	dead           atomic.Bool
}

func startProxy(t testing.TB, target string) *blackholeProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &blackholeProxy{ln: ln, target: target}
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// Addr is the proxy's host:port.
func (p *blackholeProxy) Addr() string { return p.ln.Addr().String() }

func (p *blackholeProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		l := &link{client: c, server: s}
		p.mu.Lock()
		p.links = append(p.links, l)
		p.mu.Unlock()
		go l.pipe(s, c)
		go l.pipe(c, s)
	}
}

// pipe copies src to dst until the link goes dead; then it reads and
// discards, so the sender sees nothing wrong.
func (l *link) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !l.dead.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if !l.dead.Load() {
				dst.Close()
			}
			return
		}
	}
}

// Blackhole silences every connection open now.
func (p *blackholeProxy) Blackhole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.links {
		l.dead.Store(true)
	}
}

func (p *blackholeProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.links {
		l.client.Close()
		l.server.Close()
	}
}
