package tenantkittest

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/internal/bootstrap"
	"github.com/tenantkit/tenantkit/internal/pgcluster"
)

// PgBouncer is a private pgbouncer in transaction pool mode on a loopback
// port, in front of one PostgreSQL server, killed when the test ends. Any
// database name is forwarded to the server; the owner, app and replication
// roles log in with the harness's Passwords.
type PgBouncer struct {
	bin      string
	dir      string
	upstream string
	port     int
	opts     pgbouncerOptions
	cred     *syscall.Credential
	cmd      *exec.Cmd
	out      *SyncBuffer
	done     chan struct{}
}

// PgBouncerOption configures StartPgBouncer.
type PgBouncerOption func(*pgbouncerOptions)

type pgbouncerOptions struct {
	resetQuery string
	poolSize   int
}

// WithResetQuery makes pgbouncer run query on every server connection
// after each transaction (server_reset_query_always), as the README asks
// of a pooler in front of tenantkit. Without it pgbouncer resets nothing
// in transaction mode.
func WithResetQuery(query string) PgBouncerOption {
	return func(o *pgbouncerOptions) { o.resetQuery = query }
}

// WithPoolSize bounds pgbouncer's server connections per database and
// user (default 20): with 1, every client's transactions share one server
// session.
func WithPoolSize(n int) PgBouncerOption {
	return func(o *pgbouncerOptions) { o.poolSize = n }
}

// bouncerBuilt is where make builds PgBouncer 1.24 (scripts/deps.sh): it
// keeps prepared statements in transaction mode, where Debian 12's 1.18
// does not.
func bouncerBuilt() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	p := filepath.Join(home, ".cache", "tenantkit", "bin", "pgbouncer")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// StartPgBouncer starts a pgbouncer in front of the server at upstreamAddr
// (host:port, such as Start(tb).Addr()), failing the test when none is
// installed. It runs the PgBouncer make builds, else the one on the PATH.
func StartPgBouncer(tb testing.TB, upstreamAddr string, opts ...PgBouncerOption) *PgBouncer {
	tb.Helper()
	bin := bouncerBuilt()
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("pgbouncer"); err != nil {
			bin = "/usr/sbin/pgbouncer"
			if _, err := exec.LookPath(bin); err != nil {
				tb.Fatal("pgbouncer not found: make test builds it (scripts/deps.sh test)")
			}
		}
	}
	b := &PgBouncer{bin: bin, upstream: upstreamAddr, opts: pgbouncerOptions{poolSize: 20}}
	for _, o := range opts {
		o(&b.opts)
	}
	var err error
	if b.cred, err = bouncerCredential(); err != nil {
		tb.Fatal(err)
	}
	if b.dir, err = b.makeDir(); err != nil {
		tb.Fatalf("pgbouncer: %v", err)
	}
	tb.Cleanup(func() {
		b.Stop()
		if tb.Failed() && b.out != nil {
			tb.Logf("pgbouncer log:\n%s", b.Log())
		}
		os.RemoveAll(b.dir)
	})
	// Run as another user (root's home is closed to it), the binary is
	// copied where that user can run it.
	if b.cred != nil {
		if err := b.copyBinary(); err != nil {
			tb.Fatalf("pgbouncer: %v", err)
		}
	}
	var lastErr error
	for range 3 { // a free port can be taken between probe and bind
		if b.port, lastErr = pgcluster.FreePort(); lastErr != nil {
			continue
		}
		if lastErr = b.start(); lastErr == nil {
			return b
		}
	}
	tb.Fatalf("start pgbouncer: %v", lastErr)
	return nil
}

// Addr is pgbouncer's host:port.
func (b *PgBouncer) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(b.port)) }

// Port is pgbouncer's TCP port.
func (b *PgBouncer) Port() int { return b.port }

// Log is what pgbouncer has logged so far.
func (b *PgBouncer) Log() string { return b.out.String() }

// Stop kills pgbouncer and waits for it to exit. Connections through it
// break, as they would if it crashed.
func (b *PgBouncer) Stop() {
	if b.cmd == nil {
		return
	}
	_ = b.cmd.Process.Kill()
	<-b.done
	b.cmd = nil
}

// bouncerCredential is the postgres user's when running as root, since
// pgbouncer refuses to run as root.
func bouncerCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgbouncer refuses to run as root and there is no 'postgres' user to run it as: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// copyBinary copies pgbouncer into its directory.
func (b *PgBouncer) copyBinary() error {
	data, err := os.ReadFile(b.bin)
	if err != nil {
		return err
	}
	p := filepath.Join(b.dir, "pgbouncer")
	if err := os.WriteFile(p, data, 0o755); err != nil {
		return err
	}
	b.bin = p
	return nil
}

// makeDir writes the auth file into a directory pgbouncer's user can read.
// The configuration is written by start, since it names the port.
func (b *PgBouncer) makeDir() (string, error) {
	dir, err := os.MkdirTemp("", "tenantkittest-pgbouncer-")
	if err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	var auth strings.Builder
	for _, r := range []struct{ role, password string }{
		{bootstrap.AppRole, Passwords.App},
		{bootstrap.OwnerRole, Passwords.Owner},
		{bootstrap.ReplicationRole, Passwords.Replication},
	} {
		fmt.Fprintf(&auth, "%s %s\n", quoteAuth(r.role), quoteAuth(r.password))
	}
	if err := b.writeFile(dir, "users.txt", auth.String()); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// quoteAuth quotes a field of pgbouncer's auth_file.
func quoteAuth(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func (b *PgBouncer) writeFile(dir, name, content string) error {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		return err
	}
	if b.cred != nil {
		return os.Chown(p, int(b.cred.Uid), int(b.cred.Gid))
	}
	return nil
}

// config is pgbouncer.ini: transaction pooling, every database forwarded
// upstream, SCRAM from clients with the plaintext passwords of the auth file
// (which also let pgbouncer log in upstream with SCRAM), room for the tests'
// parallel pools, and a log of warnings and errors only, kept for failures.
func (b *PgBouncer) config() (string, error) {
	host, port, err := net.SplitHostPort(b.upstream)
	if err != nil {
		return "", fmt.Errorf("upstream address %q: %w", b.upstream, err)
	}
	reset := ""
	if b.opts.resetQuery != "" {
		reset = "server_reset_query_always = 1\nserver_reset_query = " + b.opts.resetQuery + "\n"
	}
	return fmt.Sprintf(`[databases]
* = host=%s port=%s

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
pool_mode = transaction
auth_type = scram-sha-256
auth_file = %s
max_client_conn = 1000
default_pool_size = %d
max_db_connections = 0
server_login_retry = 1
ignore_startup_parameters = extra_float_digits
log_connections = 0
log_disconnections = 0
%s`, host, port, b.port, filepath.Join(b.dir, "users.txt"), b.opts.poolSize, reset), nil
}

func (b *PgBouncer) start() error {
	ini, err := b.config()
	if err != nil {
		return err
	}
	if err := b.writeFile(b.dir, "pgbouncer.ini", ini); err != nil {
		return err
	}
	b.out = &SyncBuffer{}
	b.cmd = exec.Command(b.bin, filepath.Join(b.dir, "pgbouncer.ini"))
	b.cmd.Dir = b.dir
	b.cmd.Stdout, b.cmd.Stderr = b.out, b.out
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: b.cred, Setpgid: true}
	if err := b.cmd.Start(); err != nil {
		b.cmd = nil
		return err
	}
	b.done = make(chan struct{})
	go func() { _ = b.cmd.Wait(); close(b.done) }()
	if err := b.waitReady(10 * time.Second); err != nil {
		b.Stop()
		return fmt.Errorf("%w\n%s", err, b.out.String())
	}
	return nil
}

// waitReady waits until pgbouncer answers the PostgreSQL protocol: an
// SSLRequest gets a one-byte answer.
func (b *PgBouncer) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := b.probe()
		if err == nil {
			return nil
		}
		select {
		case <-b.done:
			return fmt.Errorf("pgbouncer exited: %v", b.cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pgbouncer on port %d not ready after %v: %w", b.port, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (b *PgBouncer) probe() error {
	c, err := net.DialTimeout("tcp", b.Addr(), time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	req := make([]byte, 8)
	binary.BigEndian.PutUint32(req[0:4], 8)
	binary.BigEndian.PutUint32(req[4:8], 80877103) // SSLRequest
	if _, err := c.Write(req); err != nil {
		return err
	}
	answer := make([]byte, 1)
	if _, err := io.ReadFull(c, answer); err != nil {
		return err
	}
	if answer[0] != 'N' && answer[0] != 'S' {
		return fmt.Errorf("SSLRequest answered %q", answer)
	}
	return nil
}
