package domaincheck_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/dnstest"
	"github.com/tenantkit/tenantkit/internal/domaincheck"
	"github.com/tenantkit/tenantkit/internal/domains"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

func TestMain(m *testing.M) { tenantkittest.Main(m) }

// The re-check job, run on a real catalog against a real DNS server:
// domains whose record holds stay verified; one whose record has gone
// lapses; one checked within half an interval is left alone.
func TestWorkerLapsesADomainWhoseRecordHasGone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := tenantkittest.NewCatalog(t)
	pool, err := pgxpool.New(ctx, db.OwnerDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	store, err := catalog.NewStore(catalog.StoreConfig{Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	dns, err := dnstest.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dns.Close()
	check := domains.Proof{Resolver: dns.Addr(), Timeout: 2 * time.Second}.Check
	if _, err := store.CreateTenant(ctx, "t", catalog.CreateParams{Slug: "acme", Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"kept.acme.test", "gone.acme.test"} {
		d, err := store.AddDomain(ctx, "t", "acme", host, "")
		if err != nil {
			t.Fatal(err)
		}
		dns.SetTXT(domains.RecordName(host), d.VerificationToken)
		if _, err := store.VerifyDomain(ctx, "t", host, check); err != nil {
			t.Fatal(err)
		}
	}
	dns.DeleteTXT(domains.RecordName("gone.acme.test"))
	w := &domaincheck.Worker{Store: store, Check: check, Interval: time.Hour, Grace: time.Hour}
	// Both were checked moments ago: within half the interval, nothing is
	// looked up again.
	if err := w.Work(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if d, _ := store.GetDomain(ctx, "gone.acme.test"); d.Status != catalog.DomainVerified {
		t.Fatalf("checked again too soon: %+v", d)
	}
	if _, err := pool.Exec(ctx, "UPDATE tenantkit.domains SET checked_at = now() - interval '2 hours'"); err != nil {
		t.Fatal(err)
	}
	if err := w.Work(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if d, _ := store.GetDomain(ctx, "gone.acme.test"); d.Status != catalog.DomainLapsed || d.CheckError == "" || !catalog.View(d).Resolves {
		t.Fatalf("gone.acme.test after the re-check: %+v", d)
	}
	if d, _ := store.GetDomain(ctx, "kept.acme.test"); d.Status != catalog.DomainVerified {
		t.Fatalf("kept.acme.test after the re-check: %+v", d)
	}

	// A certificate recorded active whose expiry has passed shows expired.
	past, future := time.Now().Add(-time.Minute), time.Now().Add(time.Hour)
	if err := store.SetDomainSSL(ctx, "kept.acme.test", catalog.SSLActive, "", &past); err != nil {
		t.Fatal(err)
	}
	if err := store.SetDomainSSL(ctx, "gone.acme.test", catalog.SSLActive, "", &future); err != nil {
		t.Fatal(err)
	}
	if err := w.Work(ctx, nil); err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]string{"kept.acme.test": catalog.SSLExpired, "gone.acme.test": catalog.SSLActive} {
		if d, _ := store.GetDomain(ctx, host); d.SslStatus != want {
			t.Fatalf("%s: ssl_status %s, want %s", host, d.SslStatus, want)
		}
	}
}
