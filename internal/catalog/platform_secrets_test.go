package catalog_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/tenantkit/tenantkit/internal/keys"
)

// The platform's secrets in the catalog: stored sealed, never in clear;
// read back and opened; replaced; re-wrapped after the local KEK rotates,
// the compare-and-swap leaving alone a secret set again meanwhile; deleted.
func TestPlatformSecretsSealedInTheCatalog(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	kek, err := keys.LocalKEK(keys.LocalConfig{Path: filepath.Join(t.TempDir(), "kek.json"), Create: true})
	if err != nil {
		t.Fatal(err)
	}
	ring, err := keys.NewKeyring(keys.KeyringConfig{Store: b.store.Keys(), KEKs: []keys.KEK{kek}})
	if err != nil {
		t.Fatal(err)
	}
	ps := b.store.Keys()
	if _, err := ring.GetPlatform(ctx, ps, "stripe-secret-key"); !errors.Is(err, keys.ErrNoSecret) {
		t.Fatalf("before any: %v, want ErrNoSecret", err)
	}
	const key = "sk_test_kept_in_the_catalog"
	for _, v := range []string{"sk_test_first", key} {
		if err := ring.PutPlatform(ctx, ps, "stripe-secret-key", []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := ring.PutPlatform(ctx, ps, "stripe-webhook-secret", []byte("whsec_1")); err != nil {
		t.Fatal(err)
	}
	var raw []byte
	if err := b.pool.QueryRow(ctx, "SELECT sealed FROM tenantkit.platform_secrets WHERE name = 'stripe-secret-key'").Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(key)) || bytes.Contains(raw, []byte("kept_in")) {
		t.Fatal("the secret key is stored in clear")
	}
	if got, err := ring.GetPlatform(ctx, ps, "stripe-secret-key"); err != nil || string(got) != key {
		t.Fatalf("GetPlatform = %q, %v", got, err)
	}
	// A sealed value copied under another name does not open.
	if _, err := b.pool.Exec(ctx, "UPDATE tenantkit.platform_secrets SET sealed = $1 WHERE name = 'stripe-webhook-secret'", raw); err != nil {
		t.Fatal(err)
	}
	if _, err := ring.GetPlatform(ctx, ps, "stripe-webhook-secret"); !errors.Is(err, keys.ErrDecrypt) {
		t.Fatalf("a sealed value moved to another name: %v", err)
	}
	if err := ring.PutPlatform(ctx, ps, "stripe-webhook-secret", []byte("whsec_1")); err != nil {
		t.Fatal(err)
	}

	before := kek.ID()
	if err := kek.Rotate(); err != nil {
		t.Fatal(err)
	}
	// Another process, still on the old primary, sets the webhook secret
	// between the rewrap's read and its write: simulated by a store whose
	// listing is stale.
	stale, err := ps.PlatformSecrets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := ring.PutPlatform(ctx, ps, "stripe-webhook-secret", []byte("whsec_2")); err != nil {
		t.Fatal(err)
	}
	res, err := ring.RewrapPlatform(ctx, &staleList{ps, stale})
	if err != nil || res.Rewrapped != 1 || res.Skipped != 1 || res.Remaining != 0 || res.KEKID == before {
		t.Fatalf("RewrapPlatform = %+v, %v", res, err)
	}
	all, err := ps.PlatformSecrets(ctx)
	if err != nil || len(all) != 2 {
		t.Fatalf("secrets: %+v, %v", all, err)
	}
	for _, s := range all {
		if s.KEKID != kek.ID() {
			t.Fatalf("%s still sealed by %s", s.Name, s.KEKID)
		}
	}
	if got, err := ring.GetPlatform(ctx, ps, "stripe-webhook-secret"); err != nil || string(got) != "whsec_2" {
		t.Fatalf("the secret set during the rewrap: %q, %v", got, err)
	}
	if got, err := ring.GetPlatform(ctx, ps, "stripe-secret-key"); err != nil || string(got) != key {
		t.Fatalf("the re-wrapped secret: %q, %v", got, err)
	}
	if ok, err := ps.DeletePlatformSecret(ctx, "stripe-secret-key"); !ok || err != nil {
		t.Fatalf("delete: %v, %v", ok, err)
	}
	if ok, err := ps.DeletePlatformSecret(ctx, "stripe-secret-key"); ok || err != nil {
		t.Fatalf("delete again: %v, %v", ok, err)
	}
}

// staleList answers PlatformSecrets once with an old listing.
type staleList struct {
	keys.PlatformStore
	first []keys.SealedSecret
}

func (s *staleList) PlatformSecrets(ctx context.Context) ([]keys.SealedSecret, error) {
	if s.first != nil {
		first := s.first
		s.first = nil
		return first, nil
	}
	return s.PlatformStore.PlatformSecrets(ctx)
}
