package client_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/tenantkit/tenantkit/client"
)

func TestBranding(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	if _, err := b.c.CreateTenant(ctx, client.CreateTenantParams{Slug: "acme", Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	got, err := b.c.GetBranding(ctx, "acme")
	if err != nil || got.Version != 0 {
		t.Fatalf("get: %+v %v", got, err)
	}
	v0 := int64(0)
	got, err = b.c.SetBranding(ctx, "acme", client.Branding{DisplayName: "Acme", PrimaryColor: "Teal"}, &v0)
	if err != nil || got.PrimaryColor != "#008080" || got.Version != 1 {
		t.Fatalf("set: %+v %v", got, err)
	}
	_, err = b.c.SetBranding(ctx, "acme", client.Branding{DisplayName: "Late"}, &v0)
	wantError(t, err, http.StatusPreconditionFailed, "precondition-failed")
	_, err = b.c.SetBranding(ctx, "acme", client.Branding{CustomCSS: "@import url(https://evil.example/x.css);"}, nil)
	wantError(t, err, http.StatusUnprocessableEntity, "invalid-fields")
	if got, err := b.c.GetBranding(ctx, "acme"); err != nil || got.DisplayName != "Acme" || got.Version != 1 {
		t.Fatalf("after refused writes: %+v %v", got, err)
	}
}
