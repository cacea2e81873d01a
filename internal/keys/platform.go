package keys

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// A platform secret is one of the platform's own credentials (its Stripe
// secret key, its Stripe webhook secret) kept in the catalog instead of the
// environment. It has no tenant and no data key: it is sealed directly by
// the primary KEK's AEAD, its associated data binding it to its name, so a
// sealed value copied under another name does not open. Like tenants' data
// keys it is re-wrapped after the KEK rotates (RewrapPlatform).

// SealedSecret is a platform secret as stored.
type SealedSecret struct {
	Name   string
	KEKID  string
	Sealed []byte
	// UpdatedAt is when the secret was last set; the Store sets it.
	UpdatedAt time.Time
}

// PlatformStore persists sealed platform secrets; the catalog implements
// it on tenantkit.platform_secrets. Every method must be safe for
// concurrent use, from this process and others.
type PlatformStore interface {
	// PlatformSecret returns the named secret, or an error wrapping
	// ErrNoSecret when there is none.
	PlatformSecret(ctx context.Context, name string) (SealedSecret, error)
	// PutPlatformSecret stores s under s.Name, replacing what was there.
	PutPlatformSecret(ctx context.Context, s SealedSecret) error
	// DeletePlatformSecret removes the named secret and reports whether
	// there was one.
	DeletePlatformSecret(ctx context.Context, name string) (bool, error)
	// PlatformSecrets returns every stored secret, ordered by name.
	PlatformSecrets(ctx context.Context) ([]SealedSecret, error)
	// RewrapPlatformSecret is a compare-and-swap like Store.Rewrap: when
	// the named secret is still sealed by fromKEK it takes toKEK and
	// sealed and returns true; otherwise it returns false with no error.
	RewrapPlatformSecret(ctx context.Context, name, fromKEK, toKEK string, sealed []byte) (bool, error)
}

// ErrNoSecret is returned when a platform secret is not stored.
var ErrNoSecret = errors.New("keys: no such platform secret")

var secretName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// ValidSecretName reports whether name may name a platform secret:
// lowercase letters, digits and dashes, at most 63.
func ValidSecretName(name string) bool { return secretName.MatchString(name) }

const platformLabel = "tenantkit/keys/platform/v1\x00"

func platformAD(name string) []byte { return append([]byte(platformLabel), name...) }

// SealPlatform seals secret under the primary KEK for the given name.
func (r *Keyring) SealPlatform(name string, secret []byte) (SealedSecret, error) {
	if !ValidSecretName(name) {
		return SealedSecret{}, fmt.Errorf("keys: %q is not a platform secret name (lowercase letters, digits and dashes)", name)
	}
	kekID, a, err := primary(r.keks[0])
	if err != nil {
		return SealedSecret{}, err
	}
	ct, err := a.Encrypt(secret, platformAD(name))
	if err != nil {
		return SealedSecret{}, fmt.Errorf("keys: seal platform secret %s: %w", name, err)
	}
	return SealedSecret{Name: name, KEKID: kekID, Sealed: ct}, nil
}

// OpenPlatform opens what SealPlatform sealed, with the KEK that sealed
// it. It returns an error wrapping ErrUnknownKEK when no configured KEK is
// that one, ErrDecrypt when the sealed value was altered or sealed under
// another name.
func (r *Keyring) OpenPlatform(s SealedSecret) ([]byte, error) {
	kek := r.kekFor(s.KEKID)
	if kek == nil {
		return nil, fmt.Errorf("%w: platform secret %s is sealed by %q", ErrUnknownKEK, s.Name, s.KEKID)
	}
	pt, err := kek.AEAD().Decrypt(s.Sealed, platformAD(s.Name))
	if err != nil {
		return nil, fmt.Errorf("%w: platform secret %s", ErrDecrypt, s.Name)
	}
	return pt, nil
}

// PutPlatform seals secret and stores it under name.
func (r *Keyring) PutPlatform(ctx context.Context, store PlatformStore, name string, secret []byte) error {
	s, err := r.SealPlatform(name, secret)
	if err != nil {
		return err
	}
	if err := store.PutPlatformSecret(ctx, s); err != nil {
		return fmt.Errorf("keys: store platform secret %s: %w", name, err)
	}
	r.logger.InfoContext(ctx, "platform secret set", "name", name, "kek", s.KEKID)
	return nil
}

// GetPlatform reads the named secret from store and opens it; an error
// wrapping ErrNoSecret when it is not stored.
func (r *Keyring) GetPlatform(ctx context.Context, store PlatformStore, name string) ([]byte, error) {
	s, err := store.PlatformSecret(ctx, name)
	if err != nil {
		return nil, err
	}
	return r.OpenPlatform(s)
}

// RewrapPlatform re-seals every platform secret not sealed by the primary
// KEK with it, each with a compare-and-swap, as RewrapAll does for data
// keys. It stops at the first secret no KEK opens.
func (r *Keyring) RewrapPlatform(ctx context.Context, store PlatformStore) (Result, error) {
	kekID, a, err := primary(r.keks[0])
	if err != nil {
		return Result{}, err
	}
	res := Result{KEKID: kekID}
	all, err := store.PlatformSecrets(ctx)
	if err != nil {
		return res, fmt.Errorf("keys: rewrap: list platform secrets: %w", err)
	}
	for _, s := range all {
		if s.KEKID == kekID {
			continue
		}
		pt, err := r.OpenPlatform(s)
		if err != nil {
			return res, err
		}
		ct, err := a.Encrypt(pt, platformAD(s.Name))
		if err != nil {
			return res, fmt.Errorf("keys: seal platform secret %s: %w", s.Name, err)
		}
		ok, err := store.RewrapPlatformSecret(ctx, s.Name, s.KEKID, kekID, ct)
		if err != nil {
			return res, fmt.Errorf("keys: rewrap platform secret %s: %w", s.Name, err)
		}
		if ok {
			res.Rewrapped++
		} else {
			res.Skipped++
		}
	}
	if all, err = store.PlatformSecrets(ctx); err != nil {
		return res, fmt.Errorf("keys: rewrap: list platform secrets: %w", err)
	}
	for _, s := range all {
		if s.KEKID != kekID {
			res.Remaining++
		}
	}
	r.logger.InfoContext(ctx, "re-wrapped platform secrets", "kek", kekID, "rewrapped", res.Rewrapped, "skipped", res.Skipped, "remaining", res.Remaining)
	return res, nil
}
