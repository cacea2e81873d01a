package dnstest

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Config configures Start. The zero value works.
type Config struct {
	// Addr is the host:port to serve on, UDP and TCP alike. Defaults to
	// "127.0.0.1:0", a free loopback port.
	Addr string
	// TTL is the time to live of every answer. Defaults to 0: resolvers
	// must not cache what a test may change a moment later.
	TTL uint32
	// Logger receives a line per query at debug level. Defaults to a logger
	// that discards.
	Logger *slog.Logger
}

// Server is a running DNS server. Its methods are safe for concurrent use.
type Server struct {
	addr string
	ttl  uint32
	log  *slog.Logger
	udp  *dns.Server
	tcp  *dns.Server

	mu    sync.RWMutex
	names map[string]*rrset // by lower-case FQDN
}

type rrset struct {
	a, aaaa []net.IP
	txt     [][]string
}

func (r *rrset) empty() bool { return len(r.a) == 0 && len(r.aaaa) == 0 && len(r.txt) == 0 }

// Start serves DNS on cfg.Addr until Close. A nil cfg is the zero Config.
func Start(cfg *Config) (*Server, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{ttl: cfg.TTL, log: log, names: make(map[string]*rrset)}
	var last error
	for range 5 { // a UDP port's TCP twin may be taken: try another
		pc, ln, err := listenPair(addr)
		if err == nil {
			return s, s.serve(pc, ln)
		}
		last = err
		if !strings.HasSuffix(addr, ":0") {
			break
		}
	}
	return nil, fmt.Errorf("dnstest: listen on %s: %w", addr, last)
}

// listenPair binds UDP and TCP on the same port.
func listenPair(addr string) (net.PacketConn, net.Listener, error) {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		pc.Close()
		return nil, nil, err
	}
	return pc, ln, nil
}

func (s *Server) serve(pc net.PacketConn, ln net.Listener) error {
	s.addr = pc.LocalAddr().String()
	started := make(chan struct{}, 2)
	notify := func() { started <- struct{}{} }
	s.udp = &dns.Server{PacketConn: pc, Handler: s, NotifyStartedFunc: notify}
	s.tcp = &dns.Server{Listener: ln, Handler: s, NotifyStartedFunc: notify,
		ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second}
	failed := make(chan error, 2)
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		go func() {
			if err := srv.ActivateAndServe(); err != nil {
				failed <- err
			}
		}()
	}
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for range 2 {
		select {
		case <-started:
		case err := <-failed:
			pc.Close()
			ln.Close()
			return fmt.Errorf("dnstest: serve: %w", err)
		case <-timeout.C:
			pc.Close()
			ln.Close()
			return errors.New("dnstest: server did not start within 10s")
		}
	}
	return nil
}

// Addr is the host:port the server answers on, over UDP and TCP.
func (s *Server) Addr() string { return s.addr }

// Close stops the server. It is safe to call more than once.
func (s *Server) Close() {
	_ = s.udp.Shutdown() // a second Close finds it stopped: nothing to report
	_ = s.tcp.Shutdown()
}

// SetTXT replaces the TXT records of name; each value is one record.
// No values deletes them, as DeleteTXT does.
func (s *Server) SetTXT(name string, values ...string) {
	txt := make([][]string, 0, len(values))
	for _, v := range values {
		txt = append(txt, splitTXT(v))
	}
	s.update(name, func(r *rrset) { r.txt = txt })
}

// DeleteTXT removes the TXT records of name.
func (s *Server) DeleteTXT(name string) {
	s.update(name, func(r *rrset) { r.txt = nil })
}

// SetA replaces the address records of name with ip: an A record for an
// IPv4 address, an AAAA record otherwise. A nil ip deletes both.
func (s *Server) SetA(name string, ip net.IP) {
	s.update(name, func(r *rrset) {
		r.a, r.aaaa = nil, nil
		switch {
		case ip == nil:
		case ip.To4() != nil:
			r.a = []net.IP{ip.To4()}
		default:
			r.aaaa = []net.IP{ip.To16()}
		}
	})
}

// splitTXT cuts a value into the 255-byte character-strings a TXT record
// is made of; readers join them again.
func splitTXT(v string) []string {
	parts := []string{}
	for len(v) > 255 {
		parts = append(parts, v[:255])
		v = v[255:]
	}
	return append(parts, v)
}

func (s *Server) update(name string, f func(*rrset)) {
	key := dns.CanonicalName(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.names[key]
	if r == nil {
		r = &rrset{}
	}
	f(r)
	if r.empty() {
		delete(s.names, key)
		return
	}
	s.names[key] = r
}

// ServeDNS answers one query; it makes Server a dns.Handler.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
	} else {
		s.answer(m, req.Question[0])
	}
	s.log.Debug("dnstest query", "question", req.Question, "rcode", dns.RcodeToString[m.Rcode], "answers", len(m.Answer))
	_ = w.WriteMsg(m) // the client may be gone; nothing to do
}

func (s *Server) answer(m *dns.Msg, q dns.Question) {
	name := dns.CanonicalName(q.Name)
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.names[name]
	if !ok {
		if !s.hasBelow(name) {
			m.Rcode = dns.RcodeNameError
		}
		return // an empty non-terminal: NODATA
	}
	hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: s.ttl}
	switch q.Qtype {
	case dns.TypeA:
		for _, ip := range r.a {
			hdr.Rrtype = dns.TypeA
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: ip})
		}
	case dns.TypeAAAA:
		for _, ip := range r.aaaa {
			hdr.Rrtype = dns.TypeAAAA
			m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: ip})
		}
	case dns.TypeTXT:
		for _, txt := range r.txt {
			hdr.Rrtype = dns.TypeTXT
			m.Answer = append(m.Answer, &dns.TXT{Hdr: hdr, Txt: txt})
		}
	}
}

// hasBelow reports whether some name set lies below name, which makes name
// exist (RFC 8020) though it has no records of its own.
func (s *Server) hasBelow(name string) bool {
	for n := range s.names {
		if strings.HasSuffix(n, "."+name) {
			return true
		}
	}
	return false
}
