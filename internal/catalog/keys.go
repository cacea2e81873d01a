package catalog

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tenantkit/tenantkit/internal/catalog/catalogdb"
	"github.com/tenantkit/tenantkit/internal/keys"
)

// KeyStore is the catalog as a keys.Store: tenants' wrapped data keys in
// tenantkit.tenant_keys.
type KeyStore struct{ s *Store }

// Keys returns the store's keys.Store.
func (s *Store) Keys() KeyStore { return KeyStore{s} }

var _ keys.Store = KeyStore{}

func wrappedFromRow(r catalogdb.TenantkitTenantKey) keys.WrappedKey {
	return keys.WrappedKey{Tenant: r.TenantID, Version: int(r.Version), KEKID: r.KekID, Wrapped: r.Wrapped, CreatedAt: r.CreatedAt}
}

// TenantKeys implements keys.Store.
func (k KeyStore) TenantKeys(ctx context.Context, tenant uuid.UUID) ([]keys.WrappedKey, error) {
	rows, err := k.s.q.TenantKeys(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("catalog: keys of %s: %w", tenant, err)
	}
	out := make([]keys.WrappedKey, len(rows))
	for i, r := range rows {
		out[i] = wrappedFromRow(r)
	}
	return out, nil
}

// InsertTenantKey implements keys.Store: ON CONFLICT DO NOTHING makes the
// check and the insert one step.
func (k KeyStore) InsertTenantKey(ctx context.Context, w keys.WrappedKey) error {
	n, err := k.s.q.InsertTenantKey(ctx, catalogdb.InsertTenantKeyParams{
		TenantID: w.Tenant, Version: int32(w.Version), KekID: w.KEKID, Wrapped: w.Wrapped, CreatedAt: w.CreatedAt,
	})
	if err != nil {
		return fmt.Errorf("catalog: insert key %d of %s: %w", w.Version, w.Tenant, err)
	}
	if n == 0 {
		return fmt.Errorf("catalog: key %d of %s: %w", w.Version, w.Tenant, keys.ErrKeyExists)
	}
	return nil
}

// Rewrap implements keys.Store as one compare-and-swap UPDATE.
func (k KeyStore) Rewrap(ctx context.Context, tenant uuid.UUID, version int, fromKEK, toKEK string, wrapped []byte) (bool, error) {
	n, err := k.s.q.RewrapTenantKey(ctx, catalogdb.RewrapTenantKeyParams{
		ToKek: toKEK, Wrapped: wrapped, TenantID: tenant, Version: int32(version), FromKek: fromKEK,
	})
	return n == 1, err
}

// KeysNotWrappedBy implements keys.Store.
func (k KeyStore) KeysNotWrappedBy(ctx context.Context, kekID string, after keys.WrappedKeyRef, limit int) ([]keys.WrappedKey, error) {
	rows, err := k.s.q.KeysNotWrappedBy(ctx, catalogdb.KeysNotWrappedByParams{
		KekID: kekID, AfterTenant: after.Tenant, AfterVersion: int32(after.Version), Max: int32(limit),
	})
	if err != nil {
		return nil, err
	}
	out := make([]keys.WrappedKey, len(rows))
	for i, r := range rows {
		out[i] = wrappedFromRow(r)
	}
	return out, nil
}

// CountKeys implements keys.Store.
func (k KeyStore) CountKeys(ctx context.Context, kekID string) (int, int, error) {
	r, err := k.s.q.CountKeys(ctx, kekID)
	return int(r.Total), int(r.WrappedBy), err
}

// DestroyTenantKeys implements keys.Store: the rows are deleted.
func (k KeyStore) DestroyTenantKeys(ctx context.Context, tenant uuid.UUID) error {
	_, err := k.s.q.DestroyTenantKeys(ctx, tenant)
	return err
}

// The KeyStore is also the keys.PlatformStore: the platform's own sealed
// secrets in tenantkit.platform_secrets.
var _ keys.PlatformStore = KeyStore{}

func sealedFromRow(r catalogdb.TenantkitPlatformSecret) keys.SealedSecret {
	return keys.SealedSecret{Name: r.Name, KEKID: r.KekID, Sealed: r.Sealed, UpdatedAt: r.UpdatedAt}
}

// PlatformSecret implements keys.PlatformStore.
func (k KeyStore) PlatformSecret(ctx context.Context, name string) (keys.SealedSecret, error) {
	r, err := k.s.q.PlatformSecret(ctx, name)
	if errors.Is(err, pgx.ErrNoRows) {
		return keys.SealedSecret{}, fmt.Errorf("%w: %s", keys.ErrNoSecret, name)
	}
	if err != nil {
		return keys.SealedSecret{}, fmt.Errorf("catalog: platform secret %s: %w", name, err)
	}
	return sealedFromRow(r), nil
}

// PlatformSecrets implements keys.PlatformStore.
func (k KeyStore) PlatformSecrets(ctx context.Context) ([]keys.SealedSecret, error) {
	rows, err := k.s.q.PlatformSecrets(ctx)
	if err != nil {
		return nil, fmt.Errorf("catalog: platform secrets: %w", err)
	}
	out := make([]keys.SealedSecret, len(rows))
	for i, r := range rows {
		out[i] = sealedFromRow(r)
	}
	return out, nil
}

// PutPlatformSecret implements keys.PlatformStore.
func (k KeyStore) PutPlatformSecret(ctx context.Context, s keys.SealedSecret) error {
	return k.s.q.PutPlatformSecret(ctx, catalogdb.PutPlatformSecretParams{Name: s.Name, KekID: s.KEKID, Sealed: s.Sealed})
}

// DeletePlatformSecret implements keys.PlatformStore.
func (k KeyStore) DeletePlatformSecret(ctx context.Context, name string) (bool, error) {
	n, err := k.s.q.DeletePlatformSecret(ctx, name)
	return n == 1, err
}

// RewrapPlatformSecret implements keys.PlatformStore as one
// compare-and-swap UPDATE.
func (k KeyStore) RewrapPlatformSecret(ctx context.Context, name, fromKEK, toKEK string, sealed []byte) (bool, error) {
	n, err := k.s.q.RewrapPlatformSecret(ctx, catalogdb.RewrapPlatformSecretParams{ToKek: toKEK, Sealed: sealed, Name: name, FromKek: fromKEK})
	return n == 1, err
}
