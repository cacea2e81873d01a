// Package gotool installs the Go programs the tests and `tenantkit dev`
// run beside tenantkit (stripe-mock, pebble-challtestsrv): built once per
// machine with go install into $HOME/.cache/tenantkit/bin, under a file
// lock that scripts/deps.sh takes too, and checked by the module version
// in the binary's build info.
package gotool

import (
	"context"
	"debug/buildinfo"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
)

// Tool is a Go program to install.
type Tool struct {
	// Name is the binary's name, and its lock file's (NAME.lock).
	Name string
	// Module and Version are the module the program is built from.
	Module, Version string
	// Package is the program's package; defaults to Module.
	Package string
}

func (t Tool) pkg() string {
	if t.Package != "" {
		return t.Package
	}
	return t.Module
}

var (
	mu      sync.Mutex
	ensured = map[Tool]string{} // binaries found good once: later calls skip the check
)

// Ensure returns t's binary, installing it with go install (under a file
// lock, so parallel test processes build it once) when it is missing or
// another version.
func Ensure(ctx context.Context, t Tool) (string, error) {
	mu.Lock()
	defer mu.Unlock()
	if bin, ok := ensured[t]; ok {
		return bin, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("%s: %w", t.Name, err)
	}
	cache := filepath.Join(home, ".cache", "tenantkit")
	dir := filepath.Join(cache, "bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("%s: %w", t.Name, err)
	}
	lock, err := os.OpenFile(filepath.Join(cache, t.Name+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("%s: %w", t.Name, err)
	}
	defer lock.Close() // releases the lock
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("%s: lock: %w", t.Name, err)
	}
	bin := filepath.Join(dir, t.Name)
	if !t.versionOK(bin) {
		cmd := exec.CommandContext(ctx, "go", "install", t.pkg()+"@"+t.Version)
		cmd.Dir = os.TempDir() // outside any module: go install pkg@version ignores it anyway
		cmd.Env = append(os.Environ(), "GOBIN="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("%s: go install %s@%s: %w\n%s", t.Name, t.pkg(), t.Version, err, out)
		}
		if !t.versionOK(bin) {
			return "", fmt.Errorf("%s: go install %s@%s did not leave that version at %s", t.Name, t.pkg(), t.Version, bin)
		}
	}
	ensured[t] = bin
	return bin, nil
}

// versionOK reads the binary's build info, what go version -m prints
// (scripts/deps.sh checks with that), without running it and without
// needing a Go toolchain: `tenantkit dev` may run where only the installed
// binary is.
func (t Tool) versionOK(bin string) bool {
	info, err := buildinfo.ReadFile(bin)
	return err == nil && info.Path == t.pkg() && info.Main.Path == t.Module && info.Main.Version == t.Version
}
