package client_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tenantkit/tenantkit/client"
	"github.com/tenantkit/tenantkit/internal/adminapi"
)

func ExampleClient_CreateTenant() {
	baseURL, stop := exampleServer() // a real admin API over a catalog of its own
	defer stop()
	ctx := context.Background()

	c, err := client.New(client.Config{BaseURL: baseURL, Token: token, Actor: "ops-alice"})
	if err != nil {
		panic(err)
	}
	t, err := c.CreateTenant(ctx, client.CreateTenantParams{Slug: "acme", Name: "Acme Corp", Plan: "pro"})
	if err != nil {
		panic(err)
	}
	fmt.Println(t.Slug, t.Name, t.Plan, t.Status)

	// The id and the slug both name the tenant.
	s, err := c.SuspendTenant(ctx, t.ID, "unpaid invoice")
	if err != nil {
		panic(err)
	}
	fmt.Println(s.Slug, s.Status, s.SuspensionReason)
	// Output:
	// acme Acme Corp pro active
	// acme suspended unpaid invoice
}

func ExampleClient_Tenants() {
	baseURL, stop := exampleServer()
	defer stop()
	ctx := context.Background()
	c, err := client.New(client.Config{BaseURL: baseURL, Token: token})
	if err != nil {
		panic(err)
	}
	for _, slug := range []string{"initech", "acme", "globex", "hooli", "umbrella"} {
		if _, err := c.CreateTenant(ctx, client.CreateTenantParams{Slug: slug, Name: strings.ToUpper(slug[:1]) + slug[1:]}); err != nil {
			panic(err)
		}
	}

	// Every tenant, by slug, two to a page.
	for t, err := range c.Tenants(ctx, client.TenantListParams{Limit: 2}) {
		if err != nil {
			panic(err)
		}
		fmt.Println(t.Slug, t.Name)
	}
	// Output:
	// acme Acme
	// globex Globex
	// hooli Hooli
	// initech Initech
	// umbrella Umbrella
}

func ExampleError() {
	baseURL, stop := exampleServer()
	defer stop()
	ctx := context.Background()
	c, err := client.New(client.Config{BaseURL: baseURL, Token: token})
	if err != nil {
		panic(err)
	}

	_, err = c.GetTenant(ctx, "nosuch")
	var e *client.Error
	if errors.As(err, &e) {
		fmt.Println(e.Status, e.Kind(), e.Detail)
	}

	_, err = c.CreateTenant(ctx, client.CreateTenantParams{Slug: "ab", Name: "AB", Plan: "gold"})
	if errors.As(err, &e) {
		fmt.Println(e.Status, e.Kind())
		for _, f := range e.Errors {
			fmt.Printf("  %s: %s\n", f.Field, f.Message)
		}
	}
	// Output:
	// 404 tenant-not-found no such tenant
	// 422 invalid-fields
	//   slug: must be 3 to 63 characters
	//   plan: must be a known plan, not "gold"
}

// exampleServer starts an admin API over a catalog of its own for an
// example, which has no *testing.T, and returns its URL and what stops it.
func exampleServer() (baseURL string, stop func()) {
	tb := &exampleTB{name: "Example"}
	ts := newServer(tb, adminapi.Config{})
	return ts.URL, tb.stop
}

// exampleTB is the testing.TB of an example: what tenantkittest and
// newServer use of one. A fatal error panics, which fails the example;
// an error fails it when it stops.
type exampleTB struct {
	testing.TB // nil: any other method panics
	name       string
	mu         sync.Mutex
	cleanups   []func()
	errs       []string
}

func (tb *exampleTB) Helper()      {}
func (tb *exampleTB) Name() string { return tb.name }

func (tb *exampleTB) Cleanup(f func()) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.cleanups = append(tb.cleanups, f)
}

func (tb *exampleTB) Log(args ...any)                 { fmt.Fprintln(os.Stderr, args...) }
func (tb *exampleTB) Logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
func (tb *exampleTB) Error(args ...any)               { tb.fail(fmt.Sprint(args...)) }
func (tb *exampleTB) Errorf(format string, args ...any) {
	tb.fail(fmt.Sprintf(format, args...))
}
func (tb *exampleTB) Fatal(args ...any)                 { panic(fmt.Sprint(args...)) }
func (tb *exampleTB) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

func (tb *exampleTB) Failed() bool {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return len(tb.errs) > 0
}

func (tb *exampleTB) fail(msg string) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.errs = append(tb.errs, msg)
}

// stop runs the cleanups, last first, and panics with the errors
// reported.
func (tb *exampleTB) stop() {
	tb.mu.Lock()
	cleanups := slices.Clone(tb.cleanups)
	tb.mu.Unlock()
	for _, f := range slices.Backward(cleanups) {
		f()
	}
	if tb.Failed() {
		panic(strings.Join(tb.errs, "\n"))
	}
}
