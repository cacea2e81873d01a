package catalog

import (
	"context"
	"fmt"

	"github.com/google/uuid"

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
