package tenantkittest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantkit/tenantkit/internal/bootstrap"
	"github.com/tenantkit/tenantkit/internal/pgcluster"
)

// EnvDatabaseURL names the variable holding a superuser URL of an existing
// server to use instead of starting a private cluster.
const EnvDatabaseURL = "TENANTKIT_TEST_DATABASE_URL"

// Passwords are the role passwords the harness sets. They are for tests only.
var Passwords = bootstrap.Passwords{Owner: "owner-test-pw", App: "app-test-pw", Replication: "repl-test-pw"}

// Server is the PostgreSQL server the tests of this process share.
type Server struct {
	addr      string
	superuser *url.URL
	cluster   *pgcluster.Cluster
	tmpDir    string
}

var (
	shared     *Server
	sharedErr  error
	sharedOnce sync.Once
)

// Start returns the process's shared server, starting it on first use. It
// fails the test when no server can be had.
func Start(tb testing.TB) *Server {
	tb.Helper()
	sharedOnce.Do(func() { shared, sharedErr = start() })
	if sharedErr != nil {
		tb.Fatalf("tenantkittest: %v", sharedErr)
	}
	return shared
}

// Main runs the tests and then stops the shared server.
//
// Everything the binary writes to its standard output and error is also
// searched for the secrets tests registered with Secret: one found fails
// the binary, whatever the tests said.
//
// m is a *testing.M, or what wraps one to run more checks after it.
func Main(m interface{ Run() int }) {
	stop, err := capture()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tenantkittest: capture output:", err)
		os.Exit(1)
	}
	code := m.Run()
	if shared != nil {
		shared.stop()
	}
	if leak := checkSecrets(stop()); code == 0 {
		code = leak
	}
	os.Exit(code)
}

func start() (*Server, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := &Server{}
	if raw := os.Getenv(EnvDatabaseURL); raw != "" {
		u, err := url.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvDatabaseURL, err)
		}
		s.superuser, s.addr = u, u.Host
	} else {
		dir, err := os.MkdirTemp("", "tenantkittest-")
		if err != nil {
			return nil, err
		}
		s.tmpDir = dir
		c, err := pgcluster.Start(ctx, pgcluster.Config{DataDir: dir, Settings: map[string]string{"max_connections": "300"}})
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		s.cluster = c
		s.addr = c.Addr()
		s.superuser, _ = url.Parse(c.SuperuserURL("postgres"))
		startWatchdog(c)
	}
	conn, err := pgx.Connect(ctx, s.SuperuserURL("postgres"))
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	if err := bootstrap.EnsureRoles(ctx, conn, Passwords); err != nil {
		return nil, err
	}
	return s, nil
}

// startWatchdog runs a small process that stops the cluster and removes its
// directory once this test process is gone, however it ended.
func startWatchdog(c *pgcluster.Cluster) {
	script := fmt.Sprintf(`while kill -0 %d 2>/dev/null; do sleep 1; done
pid=$(head -n 1 %q/pgdata/postmaster.pid 2>/dev/null)
[ -n "$pid" ] && kill -QUIT "$pid" 2>/dev/null
i=0; while [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
rm -rf %q`, os.Getpid(), c.DataDir(), c.DataDir())
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err == nil {
		go func() { _ = cmd.Wait() }()
	}
}

func (s *Server) stop() {
	if s.cluster != nil {
		_ = s.cluster.Stop()
		os.RemoveAll(s.tmpDir)
	}
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.addr }

// SuperuserURL is a superuser connection URL for database db.
func (s *Server) SuperuserURL(db string) string {
	u := *s.superuser
	u.Path = "/" + db
	q := u.Query()
	if q.Get("sslmode") == "" {
		q.Set("sslmode", "disable")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// OwnerURL connects as the owner role (runs migrations) to db.
func (s *Server) OwnerURL(db string) string {
	return s.roleURL(bootstrap.OwnerRole, Passwords.Owner, db)
}

// AppURL connects as the app role (NOSUPERUSER NOBYPASSRLS) to db.
func (s *Server) AppURL(db string) string { return s.roleURL(bootstrap.AppRole, Passwords.App, db) }

// ReplicationURL connects as the replication role to db.
func (s *Server) ReplicationURL(db string) string {
	return s.roleURL(bootstrap.ReplicationRole, Passwords.Replication, db)
}

func (s *Server) roleURL(role, password, db string) string {
	u, _ := url.Parse(s.SuperuserURL(db))
	u.User = url.UserPassword(role, password)
	return u.String()
}

// Database is a database of its own for one test.
type Database struct {
	*Server
	Name string
}

// NewDatabase creates a database owned by the owner role and drops it when
// the test ends.
func NewDatabase(tb testing.TB) *Database {
	tb.Helper()
	s := Start(tb)
	name := "t_" + sanitize(tb.Name()) + "_" + randomHex(4)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.SuperuserURL("postgres"))
	if err != nil {
		tb.Fatalf("tenantkittest: connect: %v", err)
	}
	defer conn.Close(ctx)
	if err := bootstrap.CreateDatabase(ctx, conn, name); err != nil {
		tb.Fatalf("tenantkittest: %v", err)
	}
	tb.Cleanup(func() {
		conn, err := pgx.Connect(ctx, s.SuperuserURL("postgres"))
		if err != nil {
			tb.Logf("tenantkittest: drop %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if err := bootstrap.DropDatabase(ctx, conn, name); err != nil {
			tb.Logf("tenantkittest: drop %s: %v", name, err)
		}
	})
	return &Database{Server: s, Name: name}
}

// SuperuserDSN connects as the superuser to the test's database.
func (d *Database) SuperuserDSN() string { return d.Server.SuperuserURL(d.Name) }

// OwnerDSN connects as the owner role to the test's database.
func (d *Database) OwnerDSN() string { return d.Server.OwnerURL(d.Name) }

// AppDSN connects as the app role to the test's database.
func (d *Database) AppDSN() string { return d.Server.AppURL(d.Name) }

func sanitize(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
		if b.Len() >= 40 {
			break
		}
	}
	return b.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// CloseAndWait closes conn, a superuser's connection to s, and waits up to
// 10 s for its server process to end. Until it has, an owner's DROP
// DATABASE … WITH (FORCE) of that database fails, since only a superuser
// may end a superuser's session: tests that look into a tenant's database
// as the superuser, then drop it, close their connection this way.
func (s *Server) CloseAndWait(tb testing.TB, conn *pgx.Conn) {
	tb.Helper()
	ctx := context.Background()
	pid := conn.PgConn().PID()
	_ = conn.Close(ctx)
	watch, err := pgx.Connect(ctx, s.SuperuserURL("postgres"))
	if err != nil {
		tb.Fatal(err)
	}
	defer watch.Close(ctx)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		var alive bool
		if err := watch.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE pid = $1)", pid).Scan(&alive); err != nil {
			tb.Fatal(err)
		}
		if !alive {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("server process %d still there 10 s after its connection closed", pid)
		}
	}
}
