package challtestsrv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/tenantkit/tenantkit/internal/gotool"
)

// Module, Package and Version are the pebble-challtestsrv that Ensure
// installs; keep them in step with scripts/deps.sh and go.mod.
const (
	Module  = "github.com/letsencrypt/pebble/v2"
	Package = Module + "/cmd/pebble-challtestsrv"
	Version = "v2.10.3"
)

// readyTimeout bounds the wait for a started server to answer on both its
// ports; it starts in well under a second.
const readyTimeout = 10 * time.Second

// Ensure returns the pebble-challtestsrv binary, installing it with go install
// (internal/gotool) when it is missing or another version.
func Ensure(ctx context.Context) (binPath string, err error) {
	return gotool.Ensure(ctx, gotool.Tool{Name: "pebble-challtestsrv", Module: Module, Package: Package, Version: Version})
}

// Server is a running pebble-challtestsrv serving DNS and its management
// API on loopback ports. Its methods are safe for concurrent use.
type Server struct {
	client  Client
	dnsAddr string
	out     *logBuffer
	cmd     *exec.Cmd
	done    chan struct{}
	stop    sync.Once
}

// Start installs pebble-challtestsrv if needed and runs it on free
// loopback ports until Stop. ctx bounds the install and the wait until it
// answers, not the server's life.
func Start(ctx context.Context) (*Server, error) {
	bin, err := Ensure(ctx)
	if err != nil {
		return nil, err
	}
	var last error
	for range 3 { // a free port can be taken between picking and binding
		var s *Server
		if s, last = start(ctx, bin); last == nil {
			return s, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, last
}

func start(ctx context.Context, bin string) (*Server, error) {
	dnsPort, err := freeDNSPort()
	if err != nil {
		return nil, fmt.Errorf("challtestsrv: pick a DNS port: %w", err)
	}
	mgmtPort, err := freeTCPPort()
	if err != nil {
		return nil, fmt.Errorf("challtestsrv: pick a management port: %w", err)
	}
	if mgmtPort == dnsPort {
		return nil, fmt.Errorf("challtestsrv: picked port %d twice", dnsPort)
	}
	dnsAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(dnsPort))
	mgmtAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(mgmtPort))
	s := &Server{client: Client{ManagementURL: "http://" + mgmtAddr}, dnsAddr: dnsAddr, out: &logBuffer{}, done: make(chan struct{})}
	// Every listener but DNS and the management API is turned off (an
	// empty address disables it); left at their defaults they would bind
	// ports 5001-5003 and 8443 on every interface.
	s.cmd = exec.Command(bin,
		"-dnsserver", dnsAddr, "-management", mgmtAddr,
		"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
		"-http01", "", "-https01", "", "-doh", "", "-tlsalpn01", "")
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("challtestsrv: start %s: %w", bin, err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	if err := s.waitReady(ctx); err != nil {
		s.Stop()
		return nil, fmt.Errorf("challtestsrv: %w\n%s", err, s.out)
	}
	return s, nil
}

// waitReady waits until a TXT record set through the management API is
// answered over UDP and TCP. pebble-challtestsrv only logs a port it
// could not bind and keeps running, and another process may hold either
// port: a random record read back proves both listeners are this one's.
func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	name, value := "ready-"+randomHex(8)+".challtestsrv.invalid", randomHex(16)
	var last error = errors.New("not polled yet")
	for {
		select {
		case <-s.done:
			return fmt.Errorf("pebble-challtestsrv exited: %v", s.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("pebble-challtestsrv on %s and %s not ready: %w (last: %v)", s.dnsAddr, s.client.ManagementURL, ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
		if last = s.probe(ctx, name, value); last == nil {
			return s.ClearTXT(ctx, name)
		}
	}
}

func (s *Server) probe(ctx context.Context, name, value string) error {
	if err := s.SetTXT(ctx, name, value); err != nil {
		return err
	}
	for _, network := range []string{"udp", "tcp"} {
		got, err := LookupTXT(ctx, network, s.dnsAddr, name)
		if err != nil {
			return err
		}
		if !slices.Equal(got, []string{value}) {
			return fmt.Errorf("%s %s answers %q, not the record just set", network, s.dnsAddr, got)
		}
	}
	return nil
}

// DNSAddr is the DNS server's address, 127.0.0.1:port, UDP and TCP.
func (s *Server) DNSAddr() string { return s.dnsAddr }

// ManagementURL is the management API's base URL, http://127.0.0.1:port.
func (s *Server) ManagementURL() string { return s.client.ManagementURL }

// SetTXT makes name answer TXT queries with value alone (Client.SetTXT).
func (s *Server) SetTXT(ctx context.Context, name, value string) error {
	return s.client.SetTXT(ctx, name, value)
}

// ClearTXT removes name's TXT values (Client.ClearTXT).
func (s *Server) ClearTXT(ctx context.Context, name string) error {
	return s.client.ClearTXT(ctx, name)
}

// Log is what pebble-challtestsrv printed.
func (s *Server) Log() string { return s.out.String() }

// Stop kills pebble-challtestsrv and waits for it to exit; what it held
// is lost. It may be called more than once.
func (s *Server) Stop() {
	s.stop.Do(func() {
		_ = s.cmd.Process.Kill() // fails only when it has exited already
		<-s.done
	})
}

// LookupTXT asks server (host:port) over network ("udp" or "tcp") for
// name's TXT values, each record's strings joined.
func LookupTXT(ctx context.Context, network, server, name string) ([]string, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(strings.ToLower(name)), dns.TypeTXT)
	c := &dns.Client{Net: network, Timeout: 2 * time.Second}
	in, _, err := c.ExchangeContext(ctx, m, server)
	if err != nil {
		return nil, fmt.Errorf("challtestsrv: TXT %s over %s at %s: %w", name, network, server, err)
	}
	if in.Rcode != dns.RcodeSuccess {
		return nil, fmt.Errorf("challtestsrv: TXT %s over %s at %s: %s", name, network, server, dns.RcodeToString[in.Rcode])
	}
	var vals []string
	for _, rr := range in.Answer {
		if txt, ok := rr.(*dns.TXT); ok {
			vals = append(vals, strings.Join(txt.Txt, ""))
		}
	}
	return vals, nil
}

// freeDNSPort returns a loopback port free for UDP and TCP alike.
func freeDNSPort() (int, error) {
	var last error
	for range 10 {
		u, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		t, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		u.Close()
		if err == nil {
			t.Close()
			return port, nil
		}
		last = err
	}
	return 0, last
}

func freeTCPPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// maxLog bounds the output Log keeps: under `tenantkit dev` the server
// runs for hours and logs every record set.
const maxLog = 256 << 10

// logBuffer collects the server's output, keeping about the last maxLog
// bytes; os/exec's copying goroutine writes it while Log reads it.
type logBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	// Trimming at twice the bound moves the kept bytes once per maxLog
	// written, not on every write.
	if over := len(b.buf) - maxLog; over > maxLog {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
