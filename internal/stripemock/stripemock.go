// Package stripemock runs stripe-mock, Stripe's own mock API server, for
// tests and for `tenantkit dev`, and a Proxy in front of it that records
// the calls and injects faults.
//
// stripe-mock is used rather than a hand-written fake because it is
// Stripe's: it validates every request against Stripe's OpenAPI spec, so a
// call with an unknown or missing parameter fails here as it would against
// the real API, and it answers in the shapes the spec documents. But it is
// stateless: it keeps nothing that was sent. A create answers the fixture
// with a fresh random id and some scalar parameters (email, customer)
// copied in, but not metadata, nor a subscription's items, which stay the
// fixture's; a retrieve of any id answers 200 with that id, so no object is
// ever missing; a list answers the fixtures, never what was created; and
// an Idempotency-Key is echoed but not honoured, so a retried create makes
// a second object. Ids therefore tie nothing together: a test cannot find
// out from stripe-mock what was created, nor how often.
//
// The Proxy covers what a stateless mock cannot: it records every call
// (method, path, decoded parameters, idempotency key, API version, answer
// status), so a test asserts which calls went out with which idempotency
// keys; and it answers in stripe-mock's place when told to, so a test
// simulates an outage (SetDown) or an object that does not exist
// (Override with a 404 resource_missing). Server.Stop and Server.Restart
// make Stripe unreachable and bring it back at the same address.
//
// The binary is built from its Go module once per machine into
// $HOME/.cache/tenantkit/bin, as scripts/deps.sh does for CI.
package stripemock

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tenantkit/tenantkit/internal/gotool"
	"github.com/tenantkit/tenantkit/internal/pgcluster"
)

// Module and Version are the stripe-mock that Ensure installs; keep them
// in step with scripts/deps.sh.
const (
	Module  = "github.com/stripe/stripe-mock"
	Version = "v0.203.0"
)

// TestKey is an API key stripe-mock accepts: it checks only that a key in
// the sk_test_ form is sent, not which one.
const TestKey = "sk_test_123"

// readyTimeout bounds the wait for a started stripe-mock to answer; it
// loads and indexes Stripe's whole OpenAPI spec first, which takes a few
// seconds on a busy machine.
const readyTimeout = 15 * time.Second

// Ensure returns the stripe-mock binary, installing it with go install
// (internal/gotool) when it is missing or another version.
func Ensure(ctx context.Context) (binPath string, err error) {
	return gotool.Ensure(ctx, gotool.Tool{Name: "stripe-mock", Module: Module, Version: Version})
}

// Server is a running stripe-mock on loopback ports. Its methods are safe
// for concurrent use.
type Server struct {
	bin       string
	httpPort  int
	httpsPort int // bound only so that stripe-mock does not open HTTPS on every interface
	out       *logBuffer

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Start installs stripe-mock if needed and runs it on free loopback ports
// until Stop. ctx bounds the install and the wait until it answers, not
// the server's life.
func Start(ctx context.Context) (*Server, error) {
	bin, err := Ensure(ctx)
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin, out: &logBuffer{}}
	var last error
	for range 3 { // a free port can be taken between picking and binding
		if s.httpPort, last = pgcluster.FreePort(); last != nil {
			continue
		}
		if s.httpsPort, last = pgcluster.FreePort(); last != nil {
			continue
		}
		if s.httpsPort == s.httpPort {
			last = fmt.Errorf("stripemock: picked port %d twice", s.httpPort)
			continue
		}
		if last = s.start(ctx); last == nil {
			return s, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, last
}

// URL is the base URL of stripe-mock's plain-HTTP API, with no trailing
// slash; it stays the same across Restart.
func (s *Server) URL() string {
	return "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(s.httpPort))
}

// Log is what stripe-mock printed, over every start.
func (s *Server) Log() string { return s.out.String() }

// Stop kills stripe-mock and waits for it to exit. It may be called more
// than once.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

// Restart kills stripe-mock, if it runs, and starts it again on the same
// ports, so clients configured with URL reach it again: "Stripe is down,
// then comes back". It fails if another process took a port meanwhile.
func (s *Server) Restart(ctx context.Context) error {
	return s.start(ctx) // start kills the running one first
}

func (s *Server) stopLocked() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill() // fails only when it has exited already
	<-s.done
	s.cmd = nil
}

func (s *Server) start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
	mark := s.out.Len()
	// Both addresses are given: with -http-addr alone stripe-mock would
	// also serve HTTPS on its default port on all interfaces.
	cmd := exec.Command(s.bin,
		"-http-addr", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.httpPort)),
		"-https-addr", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.httpsPort)))
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("stripemock: start %s: %w", s.bin, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done
	if err := s.waitReady(ctx, mark); err != nil {
		s.stopLocked()
		return fmt.Errorf("stripemock: %w\n%s", err, s.out.Since(mark))
	}
	return nil
}

// waitReady waits until this process has bound both ports and answers an
// authenticated GET /v1/customers with 200. The HTTPS line is printed
// after the HTTP port was bound and just before stripe-mock would exit on
// an HTTPS port clash, so seeing it (with the process still running) means
// the 200 came from this process, not from whatever held the port.
func (s *Server) waitReady(ctx context.Context, mark int) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	var last error = errors.New("not polled yet")
	for {
		select {
		case <-s.done:
			return fmt.Errorf("stripe-mock exited: %v", s.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("stripe-mock on port %d not ready: %w (last: %v)", s.httpPort, ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
		if !strings.Contains(s.out.Since(mark), "Listening for HTTPS at address") {
			last = errors.New("ports not bound yet")
			continue
		}
		if last = s.ping(ctx, client); last == nil {
			select {
			case <-s.done:
				return fmt.Errorf("stripe-mock exited: %v", s.cmd.ProcessState)
			default:
				return nil
			}
		}
	}
}

func (s *Server) ping(ctx context.Context, client *http.Client) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+"/v1/customers", nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(TestKey, "")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /v1/customers: %s", resp.Status)
	}
	return nil
}

// maxLog bounds the output Log keeps: stripe-mock prints three lines per
// request, and under `tenantkit dev` it runs for hours.
const maxLog = 1 << 20

// logBuffer collects stripe-mock's output, keeping the last maxLog bytes;
// the process writes it from os/exec's copying goroutine while Log and
// waitReady read it.
type logBuffer struct {
	mu      sync.Mutex
	buf     []byte
	dropped int // bytes written before buf[0]
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	// Trimming at twice the bound moves the kept bytes once per maxLog
	// written, not on every write.
	if over := len(b.buf) - maxLog; over > maxLog {
		b.buf = append(b.buf[:0], b.buf[over:]...)
		b.dropped += over
	}
	return len(p), nil
}

func (b *logBuffer) String() string { return b.Since(0) }

// Len is how many bytes were ever written: a mark for Since.
func (b *logBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dropped + len(b.buf)
}

// Since returns what was written after mark (a Len), as far as it is kept.
func (b *logBuffer) Since(mark int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf[max(mark-b.dropped, 0):])
}
