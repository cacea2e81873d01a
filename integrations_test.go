package tenantkit_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/email"
	"github.com/tenantkit/tenantkit/internal/integration"
	"github.com/tenantkit/tenantkit/internal/keys"
	"github.com/tenantkit/tenantkit/internal/mailpit"
	"github.com/tenantkit/tenantkit/internal/registry"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// TestBrandedEmailThroughEachTenantsIntegration: globex brings its own
// SMTP account, acme uses the platform's. kit.Email(ctx) sends each
// tenant's mail through its own path, from the address it may use, branded
// with its logo and colours — and no secret shows in a log line, a result
// or an error.
func TestBrandedEmailThroughEachTenantsIntegration(t *testing.T) {
	t.Parallel()
	platformMail, err := mailpit.Start("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(platformMail.Stop)
	globexMail, err := mailpit.Start("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(globexMail.Stop)
	platformSecret, globexSecret := tenantkittest.Secret("platform-smtp-password-0001"), tenantkittest.Secret("globex-smtp-password-0002")

	logs := &tenantkittest.SyncBuffer{}
	keyFile := filepath.Join(t.TempDir(), "kek.json")
	if _, err := keys.LocalKEK(keys.LocalConfig{Path: keyFile, Create: true}); err != nil {
		t.Fatal(err)
	}
	b := setup(t, unlimited(tenantkit.Config{
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Integrations: tenantkit.IntegrationsConfig{
			KeyFile: keyFile, EmailFrom: "Platform <no-reply@platform.example>",
			Defaults: map[string]tenantkit.IntegrationDefault{"email": {Provider: "smtp",
				Settings:    map[string]string{"host": platformMail.SMTPHost, "port": platformMail.SMTPPort, "tls": "none"},
				Credentials: map[string]string{"username": "platform", "password": platformSecret}}},
		},
	}))
	b.startListening(t)
	ctx := context.Background()
	b.tenant(t, "acme", "free")
	b.tenant(t, "globex", "pro")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(b.store.SetBranding(ctx, "test", "globex", catalog.Branding{DisplayName: "Globex", LogoURL: "https://assets.platform.test/globex/logo.png",
		PrimaryColor: "#1971c2", FromName: "Globex Support", FromEmail: "support@globex.example"}))
	must(b.store.SetBranding(ctx, "test", "acme", catalog.Branding{DisplayName: "Acme", PrimaryColor: "#d9480f",
		FromEmail: "hello@acme.example"})) // not verified: acme sends as the platform
	_, err = b.store.AddDomain(ctx, "test", "globex", "globex.example", "")
	must(err)
	_, err = b.store.VerifyDomain(ctx, "test", "globex.example", tenantkittest.Vouched)
	must(err)

	// The control plane gives globex its own SMTP account.
	admin, _, err := registry.Standard(registry.StandardConfig{Store: b.store, KMS: registry.KMSConfig{KeyFile: keyFile}})
	must(err)
	_, err = admin.Set(ctx, "test", "globex", registry.SetParams{Type: integration.Email, Provider: "smtp",
		Settings:    map[string]string{"host": globexMail.SMTPHost, "port": globexMail.SMTPPort, "tls": "none"},
		Credentials: map[string]string{"username": "globex", "password": globexSecret}})
	must(err)

	to := tenantkit.EmailAddress{Name: "Ann", Email: "ann@customer.example"}
	var results []tenantkit.EmailResult
	for _, slug := range []string{"globex", "acme"} {
		res, err := b.kit.Email(scoped(t, b.kit, slug)).SendTemplate("welcome", to, email.WelcomeData{Name: "Ann"})
		must(err)
		results = append(results, res)
	}
	if results[0].Source != registry.SourceTenant || results[0].From.Email != "support@globex.example" || results[0].From.Name != "Globex Support" {
		t.Fatalf("globex sent %+v", results[0])
	}
	if results[1].Source != registry.SourcePlatform || results[1].From.Email != "no-reply@platform.example" || results[1].From.Name != "Acme via Platform" {
		t.Fatalf("acme sent %+v", results[1])
	}

	got, err := globexMail.Messages(ctx)
	must(err)
	if len(got) != 1 || got[0].From.Address != "support@globex.example" || got[0].From.Name != "Globex Support" ||
		!strings.Contains(got[0].HTML, "https://assets.platform.test/globex/logo.png") || !strings.Contains(got[0].HTML, "#1971c2") ||
		!strings.Contains(got[0].Text, "Ann") {
		t.Fatalf("globex's mail server received %+v", got)
	}
	got, err = platformMail.Messages(ctx)
	must(err)
	if len(got) != 1 || got[0].From.Address != "no-reply@platform.example" || !strings.Contains(got[0].HTML, "#d9480f") {
		t.Fatalf("the platform's mail server received %+v", got)
	}

	// Removing globex's integration sends it back to the platform's.
	must(admin.Remove(ctx, "test", "globex", integration.Email))
	eventually(t, "platform serves globex", func() bool {
		res, err := b.kit.Email(scoped(t, b.kit, "globex")).Send(tenantkit.EmailMessage{To: []tenantkit.EmailAddress{to}, Subject: "hi", Text: "hi"})
		return err == nil && res.Source == registry.SourcePlatform
	})
	for _, secret := range []string{platformSecret, globexSecret} {
		if strings.Contains(logs.String(), secret) {
			t.Fatalf("a log line shows a secret:\n%s", logs.String())
		}
		for _, r := range results {
			if strings.Contains(r.ID+r.Provider+r.From.String(), secret) {
				t.Fatalf("a result shows a secret: %+v", r)
			}
		}
	}
}

// TestStorageIsEachTenantsOwnAndHardDeleteShredsKeys: kit.Storage(ctx)
// hands each tenant the platform's bucket confined to its own prefix; a
// tenant's own integration is unreadable once its keys are shredded.
func TestStorageIsEachTenantsOwnAndHardDeleteShredsKeys(t *testing.T) {
	t.Parallel()
	keyFile := filepath.Join(t.TempDir(), "kek.json")
	if _, err := keys.LocalKEK(keys.LocalConfig{Path: keyFile, Create: true}); err != nil {
		t.Fatal(err)
	}
	b := setup(t, unlimited(tenantkit.Config{Integrations: tenantkit.IntegrationsConfig{KeyFile: keyFile,
		Defaults: map[string]tenantkit.IntegrationDefault{"storage": {Provider: "local", Settings: map[string]string{"root": t.TempDir()}}}}}))
	b.startListening(t)
	ctx := context.Background()
	b.tenant(t, "acme", "free")
	b.tenant(t, "globex", "free")
	acme, err := b.kit.Storage(scoped(t, b.kit, "acme"))
	if err != nil {
		t.Fatal(err)
	}
	if err := acme.Put(ctx, "invoices/1.txt", strings.NewReader("acme's"), 6, "text/plain"); err != nil {
		t.Fatal(err)
	}
	globex, err := b.kit.Storage(scoped(t, b.kit, "globex"))
	if err != nil {
		t.Fatal(err)
	}
	if objs, err := globex.List(ctx, ""); err != nil || len(objs) != 0 {
		t.Fatalf("globex lists %v (%v): acme's object leaked", objs, err)
	}
	if _, _, err := globex.Get(ctx, "invoices/1.txt"); err == nil {
		t.Fatal("globex read acme's object")
	}

	admin, _, err := registry.Standard(registry.StandardConfig{Store: b.store, KMS: registry.KMSConfig{KeyFile: keyFile}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Set(ctx, "test", "acme", registry.SetParams{Type: integration.SMS, Provider: "twilio",
		Credentials: map[string]string{"account_sid": "AC0123456789abcdef0123456789abcdef", "auth_token": tenantkittest.Secret("twilio-token-0123456789")},
		Settings:    map[string]string{"from": "+15005550006"}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "acme's own sms", func() bool { _, err := b.kit.SMS(scoped(t, b.kit, "acme")); return err == nil })
	if err := b.store.ShredTenant(ctx, "test", "acme"); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, b.db.OwnerDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM tenantkit.tenant_keys) + (SELECT count(*) FROM tenantkit.integrations)`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d keys and integrations left after shredding (%v)", n, err)
	}
	eventually(t, "acme's sms gone", func() bool {
		_, err := b.kit.SMS(scoped(t, b.kit, "acme"))
		return errors.Is(err, registry.ErrNoProvider)
	})
}
