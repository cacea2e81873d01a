package client_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/client"
	"github.com/tenantkit/tenantkit/internal/adminapi"
)

// lister is a program of another module: it lists the tenants of the
// server TENANTKIT_URL names through the public client.
const lister = `package main

import (
	"context"
	"fmt"
	"os"

	"github.com/tenantkit/tenantkit/client"
)

func main() {
	c, err := client.New(client.Config{BaseURL: os.Getenv("TENANTKIT_URL"), Token: os.Getenv("TENANTKIT_ADMIN_TOKEN")})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for t, err := range c.Tenants(context.Background(), client.TenantListParams{Limit: 2}) {
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(t.Slug, t.Status)
	}
}
`

// TestAProgramOutsideTheModuleListsTenants: a Go program in a module of
// its own, which requires tenantkit like any user's would (a replace
// points it at this checkout), builds against the public client alone
// and lists a real server's tenants across pages.
func TestAProgramOutsideTheModuleListsTenants(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds a program")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	gomod := "module example.com/lister\n\ngo 1.26\n\nrequire github.com/tenantkit/tenantkit v0.0.0\n\nreplace github.com/tenantkit/tenantkit => " + root + "\n"
	for name, body := range map[string]string{"go.mod": gomod, "main.go": lister} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin := filepath.Join(dir, "lister")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	// Everything comes from the module cache this test binary was built
	// from: the client needs nothing beyond the standard library.
	env := append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOSUMDB=off", "GOWORK=off")
	for _, args := range [][]string{{"mod", "tidy"}, {"build", "-o", bin, "."}} {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir, cmd.Env = dir, env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	ts := newServer(t, adminapi.Config{})
	c := newClient(t, client.Config{BaseURL: ts.URL})
	for _, slug := range []string{"globex", "acme", "initech"} {
		if _, err := c.CreateTenant(ctx, client.CreateTenantParams{Slug: slug, Name: slug}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.SuspendTenant(ctx, "initech", "unpaid"); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append(os.Environ(), "TENANTKIT_URL="+ts.URL, "TENANTKIT_ADMIN_TOKEN="+token)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("lister: %v\n%s", err, out)
	}
	if want := "acme active\nglobex active\ninitech suspended\n"; string(out) != want {
		t.Fatalf("lister printed\n%s\nwant\n%s", out, want)
	}
}
