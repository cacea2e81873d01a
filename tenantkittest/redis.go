package tenantkittest

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/internal/pgcluster"
)

// Redis is a private redis-server on a loopback port, killed when the
// test ends. It keeps nothing on disk.
type Redis struct {
	bin  string
	dir  string
	port int
	cmd  *exec.Cmd
	out  *SyncBuffer
	done chan struct{}
}

// StartRedis starts a redis-server for the test, failing it when none is
// installed.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		bin = "/usr/bin/redis-server"
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatal("redis-server not found: apt-get install redis-server (make test installs it)")
		}
	}
	s := &Redis{bin: bin, dir: t.TempDir()}
	t.Cleanup(s.Stop)
	var lastErr error
	for range 3 { // a free port can be taken between probe and bind
		if s.port, lastErr = pgcluster.FreePort(); lastErr != nil {
			continue
		}
		if lastErr = s.start(); lastErr == nil {
			return s
		}
	}
	t.Fatalf("start redis-server: %v", lastErr)
	return nil
}

// URL is a redis:// URL of the server.
func (s *Redis) URL() string { return "redis://" + s.Addr() + "/0" }

// Addr is the server's host:port.
func (s *Redis) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Restart kills the server, as a crash would, and starts a new one on the
// same port.
func (s *Redis) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		t.Fatalf("restart redis-server: %v", err)
	}
}

// Stop kills the server and waits for it to exit.
func (s *Redis) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

func (s *Redis) start() error {
	s.out = &SyncBuffer{}
	s.cmd = exec.Command(s.bin, "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", s.dir)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		s.cmd = nil
		return err
	}
	s.done = make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	if err := s.waitReady(10 * time.Second); err != nil {
		s.Stop()
		return fmt.Errorf("%w\n%s", err, s.out.String())
	}
	return nil
}

// waitReady waits until the server answers PING.
func (s *Redis) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := s.ping()
		if err == nil {
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("redis-server exited: %w", err)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server on port %d not ready: %w", s.port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *Redis) ping() error {
	c, err := net.DialTimeout("tcp", s.Addr(), time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}
