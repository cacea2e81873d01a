package pgcluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// MinMajorVersion is the oldest PostgreSQL major version tenantkit runs on.
const MinMajorVersion = 15

// ErrNoBinaries is returned when no PostgreSQL server binaries are found.
var ErrNoBinaries = errors.New("pgcluster: no PostgreSQL " + strconv.Itoa(MinMajorVersion) +
	"+ server binaries found (install the postgresql package: apt-get install postgresql, or brew install postgresql@17)")

// Config configures a private cluster.
type Config struct {
	// DataDir holds the cluster: DataDir/pgdata is PostgreSQL's data
	// directory and DataDir/cluster.json remembers port and password.
	// Required.
	DataDir string
	// BinDir is the directory with initdb, pg_ctl and postgres. Defaults to
	// the result of FindBinDir.
	BinDir string
	// Port is the loopback port to listen on. Defaults to the port used
	// last time for this DataDir, else a free port.
	Port int
	// Settings are extra postgresql.conf settings. Defaults to none.
	Settings map[string]string
}

// Cluster is a running private PostgreSQL cluster.
type Cluster struct {
	dataDir  string
	binDir   string
	port     int
	password string
	cred     *syscall.Credential
}

type state struct {
	Port     int    `json:"port"`
	Password string `json:"password"`
}

// Superuser is the name of the cluster's superuser role.
const Superuser = "postgres"

// EnvBinDir names a variable that, when set, is the only directory
// FindBinDir looks in.
const EnvBinDir = "TENANTKIT_PG_BINDIR"

// FindBinDir looks for PostgreSQL server binaries on PATH, in
// `pg_config --bindir`, then in /usr/lib/postgresql/*/bin and Homebrew's
// folders (newest first), and returns the first directory holding a server
// of MinMajorVersion or newer. TENANTKIT_PG_BINDIR overrides the search.
func FindBinDir() (string, error) {
	if dir := os.Getenv(EnvBinDir); dir != "" {
		if major, ok := serverMajor(dir); ok && major >= MinMajorVersion {
			return dir, nil
		}
		return "", ErrNoBinaries
	}
	var candidates []string
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			p = r
		}
		candidates = append(candidates, filepath.Dir(p))
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		candidates = append(candidates, strings.TrimSpace(string(out)))
	}
	globs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	globs2, _ := filepath.Glob("/opt/homebrew/opt/postgresql@*/bin")
	globs3, _ := filepath.Glob("/usr/local/opt/postgresql@*/bin")
	globs2 = append(globs2, globs3...)
	globs = append(globs, globs2...)
	sort.Slice(globs, func(i, j int) bool { return versionOf(globs[i]) > versionOf(globs[j]) })
	candidates = append(candidates, globs...)
	for _, dir := range candidates {
		if major, ok := serverMajor(dir); ok && major >= MinMajorVersion {
			return dir, nil
		}
	}
	return "", ErrNoBinaries
}

func versionOf(path string) int {
	for _, part := range strings.Split(path, string(filepath.Separator)) {
		part = strings.TrimPrefix(part, "postgresql@")
		if n, err := strconv.Atoi(part); err == nil {
			return n
		}
	}
	return 0
}

// serverMajor runs `postgres --version` in dir and returns its major version.
func serverMajor(dir string) (int, bool) {
	for _, tool := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(dir, tool)); err != nil {
			return 0, false
		}
	}
	out, err := exec.Command(filepath.Join(dir, "postgres"), "--version").Output()
	if err != nil {
		return 0, false
	}
	fields := strings.Fields(string(out))
	if len(fields) == 0 {
		return 0, false
	}
	major, err := strconv.Atoi(strings.SplitN(fields[len(fields)-1], ".", 2)[0])
	return major, err == nil
}

// Start initialises the cluster if DataDir holds none, then starts it and
// waits until it accepts connections. A cluster already running in DataDir
// is reused.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("pgcluster: DataDir is required")
	}
	binDir := cfg.BinDir
	if binDir == "" {
		var err error
		if binDir, err = FindBinDir(); err != nil {
			return nil, err
		}
	}
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	c := &Cluster{dataDir: dataDir, binDir: binDir}
	if c.cred, err = credential(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("pgcluster: create data dir: %w", err)
	}
	st, err := c.loadOrInit(cfg.Port)
	if err != nil {
		return nil, err
	}
	c.port, c.password = st.Port, st.Password
	if c.running() {
		return c, c.waitReady(ctx)
	}
	if err := c.writeConf(cfg.Settings); err != nil {
		return nil, err
	}
	if err := c.start(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Cluster) pgdata() string    { return filepath.Join(c.dataDir, "pgdata") }
func (c *Cluster) statePath() string { return filepath.Join(c.dataDir, "cluster.json") }

func (c *Cluster) loadOrInit(port int) (state, error) {
	var st state
	if b, err := os.ReadFile(c.statePath()); err == nil {
		if err := json.Unmarshal(b, &st); err != nil {
			return st, fmt.Errorf("pgcluster: read %s: %w", c.statePath(), err)
		}
		if _, err := os.Stat(filepath.Join(c.pgdata(), "PG_VERSION")); err == nil {
			if port != 0 {
				st.Port = port
			}
			if !c.running() && !portFree(st.Port) {
				if st.Port, err = FreePort(); err != nil {
					return st, err
				}
			}
			return st, c.saveState(st)
		}
	}
	st.Password = randomHex(16)
	st.Port = port
	if st.Port == 0 {
		var err error
		if st.Port, err = FreePort(); err != nil {
			return st, err
		}
	}
	if err := c.initdb(st.Password); err != nil {
		return st, err
	}
	return st, c.saveState(st)
}

func (c *Cluster) saveState(st state) error {
	b, _ := json.Marshal(st)
	return os.WriteFile(c.statePath(), b, 0o600)
}

func (c *Cluster) initdb(password string) error {
	if err := os.RemoveAll(c.pgdata()); err != nil {
		return err
	}
	if err := os.MkdirAll(c.pgdata(), 0o700); err != nil {
		return err
	}
	if err := c.chown(c.dataDir, c.pgdata()); err != nil {
		return err
	}
	pwfile := filepath.Join(c.dataDir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(password+"\n"), 0o600); err != nil {
		return err
	}
	defer os.Remove(pwfile)
	if err := c.chown(pwfile); err != nil {
		return err
	}
	_, err := c.run(context.Background(), "initdb", "-D", c.pgdata(), "-U", Superuser,
		"--pwfile", pwfile, "--auth-host=scram-sha-256", "--auth-local=scram-sha-256",
		"-E", "UTF8", "--locale=C", "--no-sync")
	return err
}

func (c *Cluster) writeConf(extra map[string]string) error {
	settings := map[string]string{
		"listen_addresses":                "'127.0.0.1'",
		"port":                            strconv.Itoa(c.port),
		"unix_socket_directories":         "''",
		"wal_level":                       "logical",
		"max_wal_senders":                 "20",
		"max_replication_slots":           "20",
		"max_connections":                 "200",
		"fsync":                           "off",
		"synchronous_commit":              "off",
		"full_page_writes":                "off",
		"shared_buffers":                  "128MB",
		"log_min_messages":                "warning",
		"logging_collector":               "off",
		"max_logical_replication_workers": "8",
		"max_prepared_transactions":       "20",
	}
	for k, v := range extra {
		settings[k] = v
	}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.WriteString("# written by tenantkit; edits are overwritten at start\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s = %s\n", k, settings[k])
	}
	path := filepath.Join(c.pgdata(), "tenantkit.conf")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		return err
	}
	if err := c.chown(path); err != nil {
		return err
	}
	return c.ensureInclude()
}

func (c *Cluster) ensureInclude() error {
	conf := filepath.Join(c.pgdata(), "postgresql.conf")
	b, err := os.ReadFile(conf)
	if err != nil {
		return err
	}
	const line = "include_if_exists = 'tenantkit.conf'\n"
	if bytes.Contains(b, []byte(line)) {
		return nil
	}
	return os.WriteFile(conf, append(b, []byte("\n"+line)...), 0o600)
}

func (c *Cluster) start(ctx context.Context) error {
	logFile := filepath.Join(c.dataDir, "postgres.log")
	if f, err := os.OpenFile(logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err == nil {
		f.Close()
		_ = c.chown(logFile)
	}
	_ = os.Remove(filepath.Join(c.pgdata(), "postmaster.pid")) // stale after a crash; pg_ctl checks liveness anyway
	if _, err := c.run(ctx, "pg_ctl", "start", "-w", "-t", "60", "-D", c.pgdata(), "-l", logFile); err != nil {
		tail := tailFile(logFile, 2000)
		return fmt.Errorf("%w\n%s", err, tail)
	}
	return c.waitReady(ctx)
}

func (c *Cluster) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", c.Addr(), time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pgcluster: server at %s not ready: %w", c.Addr(), err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (c *Cluster) running() bool {
	_, err := c.run(context.Background(), "pg_ctl", "status", "-D", c.pgdata())
	return err == nil
}

// Stop stops the cluster with a fast shutdown and waits for it.
func (c *Cluster) Stop() error {
	if !c.running() {
		return nil
	}
	_, err := c.run(context.Background(), "pg_ctl", "stop", "-w", "-t", "60", "-m", "fast", "-D", c.pgdata())
	return err
}

// Addr is host:port of the server.
func (c *Cluster) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)) }

// Port is the server's TCP port.
func (c *Cluster) Port() int { return c.port }

// Password is the superuser's password.
func (c *Cluster) Password() string { return c.password }

// DataDir is the cluster's directory.
func (c *Cluster) DataDir() string { return c.dataDir }

// SuperuserURL is a connection URL for the superuser on database db.
func (c *Cluster) SuperuserURL(db string) string { return URL(c.Addr(), Superuser, c.password, db) }

// URL builds a postgres:// connection URL.
func URL(addr, user, password, db string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(user, password), Host: addr, Path: "/" + db}
	u.RawQuery = "sslmode=disable"
	return u.String()
}

func (c *Cluster) run(ctx context.Context, tool string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.binDir, tool), args...)
	cmd.Dir = "/"
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	// Start in its own process group so that a Ctrl-C aimed at us does not
	// also hit the postmaster before we stop it cleanly.
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("pgcluster: %s %s: %w: %s", tool, args[0], err, strings.TrimSpace(out.String()))
	}
	return out.Bytes(), nil
}

// credential returns the postgres user's credential when running as root.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, errors.New("pgcluster: running as root needs a 'postgres' system user to run the server (apt-get install postgresql creates it)")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func (c *Cluster) chown(paths ...string) error {
	if c.cred == nil {
		return nil
	}
	for _, p := range paths {
		if err := os.Chown(p, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			return fmt.Errorf("pgcluster: chown %s: %w", p, err)
		}
	}
	// The server user must be able to reach the data directory.
	return makeTraversable(c.dataDir)
}

// makeTraversable adds search permission for others on dir and its parents
// so the postgres user can reach a directory created by root.
func makeTraversable(dir string) error {
	for d := dir; d != "/" && d != "."; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(d, fi.Mode().Perm()|0o011); err != nil {
				return err
			}
		}
	}
	return nil
}

// FreePort asks the kernel for a free loopback TCP port.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func portFree(port int) bool {
	if port == 0 {
		return false
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// StopIfRunning stops a cluster running in dataDir, if any, and reports
// whether one was running.
func StopIfRunning(dataDir string) (bool, error) {
	binDir, err := FindBinDir()
	if err != nil {
		return false, err
	}
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return false, err
	}
	c := &Cluster{dataDir: abs, binDir: binDir}
	if c.cred, err = credential(); err != nil {
		return false, err
	}
	if _, err := os.Stat(filepath.Join(c.pgdata(), "PG_VERSION")); err != nil || !c.running() {
		return false, nil
	}
	return true, c.Stop()
}
