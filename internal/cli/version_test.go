package cli

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// TestVersionReadsTheBuildInfo: the module version, the VCS revision and
// time, the modified flag and the Go version come from the build info.
func TestVersionReadsTheBuildInfo(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/tenantkit/tenantkit", Version: "v1.4.0"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-12-07T18:00:00Z"},
			{Key: "vcs.modified", Value: "true"}, {Key: "GOOS", Value: "linux"}}}
	v := versionOf(bi)
	want := buildVersion{Module: "github.com/tenantkit/tenantkit", Version: "v1.4.0", Revision: "0123456789abcdef0123",
		Time: "2026-12-07T18:00:00Z", Modified: true, GoVersion: "go1.26.8"}
	if v != want {
		t.Fatalf("versionOf = %+v, want %+v", v, want)
	}
	if s := v.String(); s != "v1.4.0 (0123456789ab, modified) go1.26.8" {
		t.Fatalf("String = %q", s)
	}
	if s := versionOf(&debug.BuildInfo{GoVersion: "go1.26.8"}).String(); s != "(devel) go1.26.8" {
		t.Fatalf("String without a version or VCS = %q", s)
	}
}

// TestVersionOfABuiltBinary: a binary built from this checkout reports the
// checkout's revision, this module and this Go, in both output forms.
func TestVersionOfABuiltBinary(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, ".git")); err != nil {
		t.Skip("not a git checkout: the build carries no VCS revision")
	}
	head, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("git: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "tenantkit")
	build := exec.CommandContext(context.Background(), "go", "build", "-buildvcs=true", "-o", bin, "./cmd/tenantkit")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version", "--output", "json").Output()
	if err != nil {
		t.Fatalf("tenantkit version: %v", err)
	}
	var v buildVersion
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if v.Module != "github.com/tenantkit/tenantkit" || v.Revision != strings.TrimSpace(string(head)) ||
		v.GoVersion != runtime.Version() || v.Version == "" || v.Time == "" {
		t.Fatalf("tenantkit version reports %+v; want this module at %s, built by %s", v, head, runtime.Version())
	}
	line, err := exec.Command(bin, "--version").Output()
	if err != nil || !strings.Contains(string(line), v.Revision[:12]) {
		t.Fatalf("tenantkit --version: %q, %v", line, err)
	}
}
