package keys_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/internal/keys"
)

// A platform secret is sealed by the KEK, not stored as it is, opens under
// its own name and no other, and does not open once altered.
func TestPlatformSecretSealedAndBoundToItsName(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const key = "sk_test_platform_secret_key"
	s, err := b.ring.SealPlatform("stripe-secret-key", []byte(key))
	if err != nil {
		t.Fatal(err)
	}
	if s.KEKID != b.kek.ID() || bytes.Contains(s.Sealed, []byte(key)) || bytes.Contains(s.Sealed, []byte("platform_secret")) {
		t.Fatalf("sealed: kek %q, %d bytes holding the plaintext", s.KEKID, len(s.Sealed))
	}
	if got, err := b.fresh(t).OpenPlatform(s); err != nil || string(got) != key {
		t.Fatalf("OpenPlatform = %q, %v", got, err)
	}
	moved := s
	moved.Name = "stripe-webhook-secret"
	if _, err := b.ring.OpenPlatform(moved); !errors.Is(err, keys.ErrDecrypt) {
		t.Fatalf("opened under another name: %v", err)
	}
	altered := s
	altered.Sealed = bytes.Clone(s.Sealed)
	altered.Sealed[len(altered.Sealed)-1] ^= 1
	if _, err := b.ring.OpenPlatform(altered); !errors.Is(err, keys.ErrDecrypt) {
		t.Fatalf("opened altered: %v", err)
	}
	other := newKeyring(t, keys.KeyringConfig{Store: b.store, KEKs: []keys.KEK{localKEK(t)}})
	if _, err := other.OpenPlatform(s); !errors.Is(err, keys.ErrUnknownKEK) || !strings.Contains(err.Error(), b.kek.ID()) {
		t.Fatalf("opened without its KEK: %v", err)
	}
	if _, err := b.ring.SealPlatform("Stripe Key", []byte(key)); err == nil {
		t.Fatal("sealed under a name that is not one")
	}
}

// After the local KEK rotates, a secret sealed by the former primary still
// opens (the file holds it), and new seals are by the new primary.
func TestPlatformSecretOpensAcrossLocalRotation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s, err := b.ring.SealPlatform("stripe-secret-key", []byte("sk_test_1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.kek.Rotate(); err != nil {
		t.Fatal(err)
	}
	if got, err := b.ring.OpenPlatform(s); err != nil || string(got) != "sk_test_1" {
		t.Fatalf("after rotation: %q, %v", got, err)
	}
	s2, err := b.ring.SealPlatform("stripe-secret-key", []byte("sk_test_1"))
	if err != nil || s2.KEKID == s.KEKID || s2.KEKID != b.kek.ID() {
		t.Fatalf("sealed after rotation by %q (before %q), %v", s2.KEKID, s.KEKID, err)
	}
}
