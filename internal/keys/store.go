package keys

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// WrappedKey is one version of a tenant's data key as stored: the Tink
// keyset encrypted by a KEK (keyset.Handle.WriteWithAssociatedData, binary
// form), with the ID of that KEK.
type WrappedKey struct {
	Tenant  uuid.UUID
	Version int // 1, 2, …
	KEKID   string
	Wrapped []byte
	// CreatedAt is when the version was created; the Keyring sets it.
	CreatedAt time.Time
}

// Ref returns the key's position in the Store's (Tenant, Version) order.
func (k WrappedKey) Ref() WrappedKeyRef { return WrappedKeyRef{Tenant: k.Tenant, Version: k.Version} }

// WrappedKeyRef names one stored key; it is RewrapAll's paging cursor.
type WrappedKeyRef struct {
	Tenant  uuid.UUID
	Version int
}

// Store persists wrapped data keys; the catalog implements it on
// tenantkit.tenant_keys. Every method must be safe for concurrent use, from
// this process and others. A stored key changes only through Rewrap (its
// KEKID and Wrapped) and leaves only through DestroyTenantKeys; everything
// else about it is immutable.
type Store interface {
	// TenantKeys returns every stored key of the tenant, ordered by
	// Version, oldest first, and none (nil or empty) with no error when it
	// has none.
	TenantKeys(ctx context.Context, tenant uuid.UUID) ([]WrappedKey, error)

	// InsertTenantKey stores k as given (all fields). When the tenant
	// already has a key of k.Version it stores nothing and returns an
	// error wrapping ErrKeyExists: the check and the insert must be one
	// atomic step (the primary key on (tenant_id, version) and
	// INSERT … ON CONFLICT DO NOTHING, or the unique violation mapped), as
	// two processes may create a tenant's first key at once.
	InsertTenantKey(ctx context.Context, k WrappedKey) error

	// Rewrap is a compare-and-swap: when the tenant's key of that version
	// is still wrapped by fromKEK, it sets KEKID to toKEK and Wrapped to
	// wrapped, in one statement (UPDATE … SET kek_id = toKEK, wrapped = …
	// WHERE tenant_id = … AND version = … AND kek_id = fromKEK), and
	// returns true. It returns false with no error when no such row
	// matches — the key was re-wrapped by someone else or destroyed — and
	// never creates a row.
	Rewrap(ctx context.Context, tenant uuid.UUID, version int, fromKEK, toKEK string, wrapped []byte) (bool, error)

	// KeysNotWrappedBy returns at most limit keys whose KEKID is not kekID
	// and whose (Tenant, Version) comes strictly after after, in
	// (Tenant, Version) order, tenants compared as 16 bytes (PostgreSQL's
	// uuid order). The zero WrappedKeyRef comes before every key. An empty
	// result means there are no more.
	KeysNotWrappedBy(ctx context.Context, kekID string, after WrappedKeyRef, limit int) ([]WrappedKey, error)

	// CountKeys returns how many keys are stored, over all tenants and
	// versions, and how many of them are wrapped by kekID.
	CountKeys(ctx context.Context, kekID string) (total, wrappedBy int, err error)

	// DestroyTenantKeys deletes every stored key of the tenant, all
	// versions, and returns no error when there were none. The rows are
	// deleted, not flagged: that is the crypto-shredding. Copies in
	// backups keep unwrapping with the KEK until they expire, or until the
	// KEK has been rotated, everything re-wrapped, and its old key
	// destroyed.
	DestroyTenantKeys(ctx context.Context, tenant uuid.UUID) error
}
