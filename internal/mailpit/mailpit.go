// Package mailpit runs a local mailpit, the SMTP server with a web inbox
// that `tenantkit dev` uses as the platform's mail server and tests use to
// read what was sent. It runs the binary scripts/deps.sh installs.
package mailpit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// ErrNotInstalled: no mailpit binary was found.
var ErrNotInstalled = errors.New("mailpit is not installed (make dev or scripts/deps.sh installs it)")

// Find returns the mailpit binary: the one scripts/deps.sh installs, else
// one on PATH.
func Find() (string, error) {
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, ".cache", "tenantkit", "bin", "mailpit")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("mailpit"); err == nil {
		return p, nil
	}
	return "", ErrNotInstalled
}

// Server is a running mailpit.
type Server struct {
	// SMTPHost and SMTPPort accept mail, without TLS or auth.
	SMTPHost, SMTPPort string
	// URL is the web inbox and its API.
	URL    string
	cmd    *exec.Cmd
	exited chan struct{}
	out    *bytes.Buffer
}

// Start runs mailpit on free loopback ports, keeping its mail in dbFile
// ("" keeps it in memory), until Stop.
func Start(dbFile string) (*Server, error) {
	bin, err := Find()
	if err != nil {
		return nil, err
	}
	var last error
	for range 3 { // a free port may be taken between picking and binding
		s, err := try(bin, dbFile)
		if err == nil {
			return s, nil
		}
		last = err
	}
	return nil, last
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port, nil
}

func try(bin, dbFile string) (*Server, error) {
	smtpPort, err := freePort()
	if err != nil {
		return nil, err
	}
	httpPort, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{SMTPHost: "127.0.0.1", SMTPPort: smtpPort, URL: "http://127.0.0.1:" + httpPort,
		exited: make(chan struct{}), out: &bytes.Buffer{}}
	args := []string{"--smtp", "127.0.0.1:" + smtpPort, "--listen", "127.0.0.1:" + httpPort,
		"--disable-version-check", "--smtp-disable-rdns", "--smtp-auth-accept-any", "--smtp-auth-allow-insecure"}
	if dbFile != "" {
		args = append(args, "--database", dbFile)
	}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start mailpit: %w", err)
	}
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	for range 200 { // 200 × 50 ms: 10 s at most
		select {
		case <-s.exited:
			return nil, fmt.Errorf("mailpit exited: %s", s.out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if s.ready() {
			return s, nil
		}
	}
	s.Stop()
	return nil, fmt.Errorf("mailpit not ready after 10s: %s", s.out.String())
}

func (s *Server) ready() bool {
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Get(s.URL + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Stop kills mailpit and waits for it.
func (s *Server) Stop() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// Message is a received message as mailpit's API shows it.
type Message struct {
	ID      string
	From    struct{ Name, Address string }
	To      []struct{ Name, Address string }
	Subject string
	Text    string
	HTML    string
}

// Messages returns every received message, newest first, with bodies.
func (s *Server) Messages(ctx context.Context) ([]Message, error) {
	var list struct {
		Messages []struct{ ID string }
	}
	if err := s.get(ctx, "/api/v1/messages", &list); err != nil {
		return nil, err
	}
	out := make([]Message, 0, len(list.Messages))
	for _, m := range list.Messages {
		var full Message
		if err := s.get(ctx, "/api/v1/message/"+m.ID, &full); err != nil {
			return nil, err
		}
		out = append(out, full)
	}
	return out, nil
}

func (s *Server) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("mailpit %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
