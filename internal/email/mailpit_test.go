package email_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// mailpitModule is the SMTP test server the tests run: a real one, built
// from source once per machine (scripts/deps.sh test does it ahead of CI).
const mailpitModule = "github.com/axllent/mailpit@v1.33.1"

var mailpitBin = sync.OnceValues(installMailpit)

// cacheDir is where tenantkit's test tools live: binaries in bin/, and the
// lock files scripts/deps.sh takes too.
func cacheDir() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".cache", "tenantkit"), nil
}

// installMailpit returns the mailpit binary, running go install under a
// file lock when it is missing or another version, so parallel test
// processes build it once.
func installMailpit() (string, error) {
	cache, err := cacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(cache, "mailpit.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing releases it too
	bin := filepath.Join(dir, "mailpit")
	if mailpitVersionOK(bin) {
		return bin, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "install", mailpitModule)
	cmd.Dir = os.TempDir() // outside this module: go install pkg@version ignores it anyway
	cmd.Env = append(os.Environ(), "GOBIN="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install %s: %v\n%s", mailpitModule, err, out)
	}
	return bin, nil
}

// mailpitVersionOK reads the binary's build info (no need to run it).
func mailpitVersionOK(bin string) bool {
	out, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		return false
	}
	want := strings.Fields(strings.Replace(mailpitModule, "@", " ", 1))
	for line := range strings.SplitSeq(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == "mod" && f[1] == want[0] && f[2] == want[1] {
			return true
		}
	}
	return false
}

// mailpit is a running mailpit: its SMTP port and REST API.
type mailpit struct {
	smtpHost string
	smtpPort string
	api      string
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// startMailpit runs mailpit on free loopback ports with extra flags and
// stops it when the test ends. A port taken between picking and binding
// is retried with new ones.
func startMailpit(t *testing.T, extra ...string) mailpit {
	t.Helper()
	bin, err := mailpitBin()
	if err != nil {
		t.Fatalf("mailpit: %v", err)
	}
	var lastOut string
	for range 3 {
		m, out, ok := tryMailpit(t, bin, extra)
		if ok {
			return m
		}
		lastOut = out
	}
	t.Fatalf("mailpit did not start:\n%s", lastOut)
	return mailpit{}
}

func tryMailpit(t *testing.T, bin string, extra []string) (mailpit, string, bool) {
	m := mailpit{smtpHost: "127.0.0.1", smtpPort: freePort(t)}
	httpAddr := net.JoinHostPort("127.0.0.1", freePort(t))
	m.api = "http://" + httpAddr
	args := append([]string{
		"--smtp", net.JoinHostPort(m.smtpHost, m.smtpPort),
		"--listen", httpAddr,
		"--database", filepath.Join(t.TempDir(), "mailpit.db"),
		"--disable-version-check",
		"--smtp-disable-rdns",
	}, extra...)
	cmd := exec.Command(bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start mailpit: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() { _ = cmd.Process.Kill(); <-exited }
	for range 200 { // 200 × 50 ms: 10 s at most
		select {
		case <-exited:
			return m, out.String(), false
		case <-time.After(50 * time.Millisecond):
		}
		if m.ready() {
			t.Cleanup(stop)
			return m, "", true
		}
	}
	stop()
	return m, out.String(), false
}

func (m mailpit) ready() bool {
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Get(m.api + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	c, err := net.DialTimeout("tcp", net.JoinHostPort(m.smtpHost, m.smtpPort), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func (m mailpit) get(t *testing.T, path string, out any) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(m.api + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

type mailpitAddress struct {
	Name    string
	Address string
}

type mailpitSummary struct {
	ID        string
	MessageID string
	Subject   string
}

type mailpitMessage struct {
	ID        string
	MessageID string
	From      mailpitAddress
	To        []mailpitAddress
	Cc        []mailpitAddress
	ReplyTo   []mailpitAddress
	Subject   string
	Text      string
	HTML      string
}

// onlyMessage returns the one message mailpit holds, in full, with its
// headers.
func (m mailpit) onlyMessage(t *testing.T) (mailpitMessage, map[string][]string) {
	t.Helper()
	var list struct {
		Messages []mailpitSummary `json:"messages"`
	}
	m.get(t, "/api/v1/messages", &list)
	if len(list.Messages) != 1 {
		t.Fatalf("mailpit holds %d messages, want 1", len(list.Messages))
	}
	var msg mailpitMessage
	m.get(t, "/api/v1/message/"+list.Messages[0].ID, &msg)
	var headers map[string][]string
	m.get(t, "/api/v1/message/"+list.Messages[0].ID+"/headers", &headers)
	return msg, headers
}

// tlsFiles writes a self-signed certificate for 127.0.0.1 and returns the
// paths of its PEM certificate and key, and the certificate's PEM.
func tlsFiles(t *testing.T) (certFile, keyFile, certPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "tenantkit test SMTP"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, []byte(certPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, certPEM
}

// authFile writes a mailpit SMTP password file ("user:password" lines).
func authFile(t *testing.T, user, password string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "smtp-auth")
	if err := os.WriteFile(path, []byte(user+":"+password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
