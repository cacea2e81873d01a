package client_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tenantkit/tenantkit/client"
)

// countingTransport counts the requests a client sends.
type countingTransport struct{ n atomic.Int32 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

func TestTenantsWalksEveryPage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	var want []string
	for i := range 7 {
		slug := fmt.Sprintf("tenant-%d", i)
		want = append(want, slug)
		if _, err := b.c.CreateTenant(ctx, client.CreateTenantParams{Slug: slug, Name: slug}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.c.SuspendTenant(ctx, "tenant-2", "test"); err != nil {
		t.Fatal(err)
	}
	counter := &countingTransport{}
	c := newClient(t, client.Config{BaseURL: b.url, HTTPClient: &http.Client{Transport: counter}})

	page, err := c.ListTenants(ctx, client.TenantListParams{Limit: 3})
	if err != nil || len(page.Tenants) != 3 || page.Next != "tenant-2" {
		t.Fatalf("first page: %+v %v", page, err)
	}
	if page, err = c.ListTenants(ctx, client.TenantListParams{Limit: 3, After: "tenant-5"}); err != nil || len(page.Tenants) != 1 || page.Next != "" {
		t.Fatalf("last page: %+v %v", page, err)
	}

	collect := func(p client.TenantListParams, stopAt int) ([]string, int32) {
		t.Helper()
		before := counter.n.Load()
		var slugs []string
		for tn, err := range c.Tenants(ctx, p) {
			if err != nil {
				t.Fatal(err)
			}
			slugs = append(slugs, tn.Slug)
			if len(slugs) == stopAt {
				break
			}
		}
		return slugs, counter.n.Load() - before
	}
	// Every tenant, in pages of three, three and one.
	if slugs, asked := collect(client.TenantListParams{Limit: 3}, -1); strings.Join(slugs, ",") != strings.Join(want, ",") || asked != 3 {
		t.Fatalf("all: %q in %d requests", slugs, asked)
	}
	// From a cursor, with a filter kept on every page.
	if slugs, asked := collect(client.TenantListParams{Limit: 2, After: "tenant-0", Status: client.StatusActive}, -1); strings.Join(slugs, ",") != "tenant-1,tenant-3,tenant-4,tenant-5,tenant-6" || asked != 3 {
		t.Fatalf("active after tenant-0: %q in %d requests", slugs, asked)
	}
	// The iterator can be walked again, from the start.
	seq := c.Tenants(ctx, client.TenantListParams{Limit: 3, After: "tenant-3"})
	for range 2 {
		var slugs []string
		for tn, err := range seq {
			if err != nil {
				t.Fatal(err)
			}
			slugs = append(slugs, tn.Slug)
		}
		if strings.Join(slugs, ",") != "tenant-4,tenant-5,tenant-6" {
			t.Fatalf("after tenant-3: %q", slugs)
		}
	}
	// A loop that breaks asks for no page it does not need.
	if slugs, asked := collect(client.TenantListParams{Limit: 3}, 4); len(slugs) != 4 || asked != 2 {
		t.Fatalf("first four: %q in %d requests", slugs, asked)
	}
	if slugs, asked := collect(client.TenantListParams{Limit: 3}, 1); len(slugs) != 1 || asked != 1 {
		t.Fatalf("first one: %q in %d requests", slugs, asked)
	}
}

// An error ends the iteration: it is yielded once, then nothing.
func TestTenantsYieldsTheError(t *testing.T) {
	t.Parallel()
	b := setup(t)
	n := 0
	for tn, err := range b.c.Tenants(context.Background(), client.TenantListParams{Limit: 501}) {
		n++
		if tn.Slug != "" || err == nil {
			t.Fatalf("yielded %+v %v", tn, err)
		}
		wantError(t, err, http.StatusUnprocessableEntity, "invalid-fields")
	}
	if n != 1 {
		t.Fatalf("%d yields, want 1", n)
	}
}
