package storage_test

import (
	"context"
	"debug/buildinfo"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/tenantkit/tenantkit/internal/integration"
	"github.com/tenantkit/tenantkit/internal/storage"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// versitygw is a real S3 gateway (Apache-2.0) whose posix backend serves a
// directory; the S3 tests run against it. scripts/deps.sh installs the same
// version for CI.
const (
	versitygwModule  = "github.com/versity/versitygw/cmd/versitygw"
	versitygwVersion = "v1.8.0"
)

// versitygwBinary returns the path of the versitygw binary, building it
// once per machine (under a file lock, so parallel test binaries build it
// once) when missing or of another version.
func versitygwBinary(t *testing.T) string {
	t.Helper()
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(home, ".cache", "tenantkit")
	bin := filepath.Join(cache, "bin", "versitygw")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	lock, err := os.OpenFile(filepath.Join(cache, "versitygw.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close() // releases the lock
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if info, err := buildinfo.ReadFile(bin); err == nil && info.Main.Version == versitygwVersion {
		return bin
	}
	t.Logf("building versitygw %s into %s (once per machine)", versitygwVersion, filepath.Dir(bin))
	cmd := exec.Command("go", "install", versitygwModule+"@"+versitygwVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+filepath.Dir(bin))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go install %s@%s: %v\n%s", versitygwModule, versitygwVersion, err, out)
	}
	return bin
}

// s3Server is a running versitygw with one bucket.
type s3Server struct {
	endpoint string // http://127.0.0.1:port
	access   string
	secret   string
	region   string
	bucket   string
	admin    *minio.Client // the root user's client, to look behind a Bucket
}

// startS3 starts versitygw on a free loopback port over a temporary
// directory, with a root user, and creates a bucket. It is stopped when
// the test ends.
func startS3(t *testing.T) *s3Server {
	t.Helper()
	bin := versitygwBinary(t)
	s := &s3Server{access: "tk-root-" + uuid.NewString()[:8], secret: "tk-secret/" + uuid.NewString(),
		region: "us-east-1", bucket: "tenantkit-test"}
	var (
		addr string
		log  *tenantkittest.SyncBuffer
	)
	// A port found free can be taken before versitygw binds it: try a few.
	for attempt := 0; attempt < 3; attempt++ {
		addr = freeAddr(t)
		var ok bool
		if log, ok = runVersitygw(t, bin, addr, s); ok {
			break
		}
		if attempt == 2 {
			t.Fatalf("versitygw did not start on %s:\n%s", addr, log.String())
		}
	}
	s.endpoint = "http://" + addr
	admin, err := minio.New(addr, &minio.Options{Creds: credentials.NewStaticV4(s.access, s.secret, ""),
		Region: s.region, BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	s.admin = admin
	if err := admin.MakeBucket(context.Background(), s.bucket, minio.MakeBucketOptions{Region: s.region}); err != nil {
		t.Fatalf("make bucket: %v\n%s", err, log.String())
	}
	return s
}

// runVersitygw starts versitygw on addr and waits until it accepts
// connections; false when it exited first.
func runVersitygw(t *testing.T, bin, addr string, s *s3Server) (*tenantkittest.SyncBuffer, bool) {
	t.Helper()
	data := t.TempDir()
	log := &tenantkittest.SyncBuffer{}
	cmd := exec.Command(bin, "--access", s.access, "--secret", s.secret, "--region", s.region,
		"--port", addr, "--quiet", "posix", data)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	for i := 0; i < 200; i++ { // up to about 20 s
		select {
		case <-exited:
			return log, false
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			c.Close()
			return log, true
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("versitygw did not listen on %s:\n%s", addr, log.String())
	return nil, false
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// config is the integration config of a Bucket of tenant on s.
func (s *s3Server) config(tenant uuid.UUID, settings map[string]string) integration.Config {
	set := map[string]string{"endpoint": s.endpoint, "region": s.region, "bucket": s.bucket, "path_style": "true"}
	for k, v := range settings {
		set[k] = v
	}
	return integration.Config{Tenant: tenant,
		Credentials: map[string]string{"access_key_id": s.access, "secret_access_key": s.secret},
		Settings:    set}
}

// keys lists every key in the server's bucket, whoever wrote it.
func (s *s3Server) keys(t *testing.T) []string {
	t.Helper()
	var out []string
	for o := range s.admin.ListObjects(context.Background(), s.bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		out = append(out, o.Key)
	}
	slices.Sort(out)
	return out
}

func newBucket(t *testing.T, provider string, cfg integration.Config) storage.Bucket {
	t.Helper()
	b, err := storage.New(provider, cfg)
	if err != nil {
		t.Fatalf("New(%q): %v", provider, err)
	}
	return b
}

func mustErrIs(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("want an error wrapping %v, got %v", target, err)
	}
}
