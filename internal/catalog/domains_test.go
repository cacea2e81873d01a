package catalog_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/dnstest"
	"github.com/tenantkit/tenantkit/internal/domains"
)

// TestDomainProofLifecycle: a custom domain proven by its TXT record
// through a real DNS server. The platform's own names, IP literals and
// wildcards are refused. Verify fails without the record (nothing
// changes), succeeds with it. Checked again with the record gone it
// lapses: it keeps resolving through its grace, and past the grace it
// stops until verified again. The record back restores it. Each step is
// audited.
func TestDomainProofLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	dns, err := dnstest.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dns.Close()
	check := domains.Proof{Resolver: dns.Addr(), Timeout: 2 * time.Second}.Check
	tn, err := b.store.CreateTenant(ctx, "t", catalog.CreateParams{Slug: "acme", Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"platform.test", "globex.platform.test", "10.1.2.3", "*.acme.test", "[::1]"} {
		var v *catalog.ValidationError
		if _, err := b.store.AddDomain(ctx, "t", "acme", host, "platform.test"); !errors.As(err, &v) {
			t.Errorf("claimed %s: %v", host, err)
		}
	}
	d, err := b.store.AddDomain(ctx, "t", "acme", "shop.acme.test", "platform.test")
	if err != nil {
		t.Fatal(err)
	}
	if v := catalog.View(d); v.TXTRecord.Name != "_tenantkit-challenge.shop.acme.test" || v.TXTRecord.Value != d.VerificationToken ||
		d.Status != catalog.DomainPending || v.Resolves {
		t.Fatalf("added: %+v", v)
	}
	resolves := func() bool {
		id, err := b.store.TenantIDByVerifiedHost(ctx, "shop.acme.test")
		if err == nil && id != tn.ID {
			t.Fatalf("resolves to %s", id)
		}
		return err == nil
	}

	var pe *domains.ProofError
	if _, err := b.store.VerifyDomain(ctx, "alice", "shop.acme.test", check); !errors.As(err, &pe) {
		t.Fatalf("verify without the record: %v", err)
	}
	if got, _ := b.store.GetDomain(ctx, "shop.acme.test"); got.VerifiedAt != nil || got.Status != catalog.DomainPending || resolves() {
		t.Fatalf("a refused verify changed the domain: %+v", got)
	}
	dns.SetTXT("_tenantkit-challenge.shop.acme.test", "not-the-token")
	if _, err := b.store.VerifyDomain(ctx, "alice", "shop.acme.test", check); !errors.As(err, &pe) || pe.Found[0] != "not-the-token" {
		t.Fatalf("verify with a wrong record: %v", err)
	}
	dns.SetTXT("_tenantkit-challenge.shop.acme.test", d.VerificationToken)
	if d, err = b.store.VerifyDomain(ctx, "alice", "shop.acme.test", check); err != nil || d.Status != catalog.DomainVerified || !resolves() {
		t.Fatalf("verify with the record: %+v, %v", d, err)
	}

	recheck := func(grace time.Duration) catalog.RecheckResult {
		t.Helper()
		res, err := b.store.RecheckDomains(ctx, "recheck", time.Now().Add(time.Hour), 100, grace, check)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := recheck(time.Hour); res.Held != 1 || res.Checked != 1 {
		t.Fatalf("recheck with the record: %+v", res)
	}
	dns.DeleteTXT("_tenantkit-challenge.shop.acme.test")
	if res := recheck(time.Hour); res.Lapsed != 1 {
		t.Fatalf("recheck without the record: %+v", res)
	}
	if d, _ = b.store.GetDomain(ctx, "shop.acme.test"); d.Status != catalog.DomainLapsed || d.GraceUntil == nil || !resolves() {
		t.Fatalf("lapsed within its grace: %+v, resolves %v", d, resolves())
	}
	// The record comes back within the grace: verified again.
	dns.SetTXT("_tenantkit-challenge.shop.acme.test", d.VerificationToken)
	if res := recheck(time.Hour); res.Restored != 1 {
		t.Fatalf("recheck with the record back: %+v", res)
	}
	if d, _ = b.store.GetDomain(ctx, "shop.acme.test"); d.Status != catalog.DomainVerified || d.GraceUntil != nil || !resolves() {
		t.Fatalf("restored: %+v", d)
	}
	// Gone again, and its grace passes (the grace is set into the past).
	dns.DeleteTXT("_tenantkit-challenge.shop.acme.test")
	recheck(time.Hour)
	if _, err := b.pool.Exec(ctx, "UPDATE tenantkit.domains SET grace_until = now() - interval '1 second' WHERE host = 'shop.acme.test'"); err != nil {
		t.Fatal(err)
	}
	if resolves() {
		t.Fatal("a lapsed domain past its grace still resolves")
	}
	if res := recheck(time.Hour); res.Unbound != 1 {
		t.Fatalf("recheck past the grace: %+v", res)
	}
	if d, _ = b.store.GetDomain(ctx, "shop.acme.test"); d.VerifiedAt != nil || d.Status != catalog.DomainLapsed || resolves() || catalog.View(d).Resolves {
		t.Fatalf("unbound: %+v", d)
	}
	if res := recheck(time.Hour); res.Checked != 0 {
		t.Fatalf("an unbound domain is checked again: %+v", res)
	}
	dns.SetTXT("_tenantkit-challenge.shop.acme.test", d.VerificationToken)
	if d, err = b.store.VerifyDomain(ctx, "alice", "shop.acme.test", check); err != nil || !resolves() {
		t.Fatalf("verified again: %+v, %v", d, err)
	}

	entries, err := b.store.Audit(ctx, tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		if e.Action != "tenant.create" {
			got = append(got, e.Actor+" "+e.Action)
		}
	}
	want := []string{"t domain.add", "alice domain.verify", "recheck domain.lapse", "recheck domain.verify", "recheck domain.lapse", "recheck domain.unbind", "alice domain.verify"}
	if !slices.Equal(got, want) {
		t.Fatalf("audit %q, want %q", got, want)
	}
	if _, err := b.store.RemoveDomain(ctx, "alice", "shop.acme.test"); err != nil || resolves() {
		t.Fatalf("remove: %v", err)
	}
	if _, err := b.store.RemoveDomain(ctx, "alice", "shop.acme.test"); !errors.Is(err, catalog.ErrDomainNotFound) {
		t.Fatalf("remove again: %v", err)
	}
}
