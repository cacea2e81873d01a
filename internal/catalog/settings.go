package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tenantkit/tenantkit/internal/bus"
	"github.com/tenantkit/tenantkit/internal/catalog/catalogdb"
)

// ErrVersionMismatch refuses a settings write whose expected version is
// not the stored one: someone else changed them first.
var ErrVersionMismatch = errors.New("catalog: settings changed since they were read")

// StoredSettings are a tenant's settings as stored: without defaults.
// Version 0 means never written.
type StoredSettings struct {
	Doc     json.RawMessage `json:"doc"`
	Version int64           `json:"version"`
}

// GetSettings returns a tenant's stored settings.
func (s *Store) GetSettings(ctx context.Context, ref string) (Tenant, StoredSettings, error) {
	t, err := s.GetTenant(ctx, ref)
	if err != nil {
		return t, StoredSettings{}, err
	}
	st, err := getSettings(ctx, s.q.GetSettings, t)
	return t, st, err
}

func getSettings(ctx context.Context, get func(context.Context, uuid.UUID) (catalogdb.GetSettingsRow, error), t Tenant) (StoredSettings, error) {
	row, err := get(ctx, t.ID)
	if errors.Is(err, pgx.ErrNoRows) {
		return StoredSettings{Doc: json.RawMessage(`{}`)}, nil
	}
	if err != nil {
		return StoredSettings{}, fmt.Errorf("catalog: settings of %s: %w", t.Slug, err)
	}
	return StoredSettings{Doc: row.Doc, Version: row.Version}, nil
}

// SettingsUpdate computes the next stored document from the current one
// and says what changed, for the audit record. It returns an error to
// refuse the write (a validation error, say).
type SettingsUpdate func(current json.RawMessage) (next json.RawMessage, changes any, err error)

// UpdateSettings changes a tenant's settings in one transaction: it locks
// them, checks ifVersion (when not nil) against the stored version,
// applies fn, writes the result with the next version and an audit record
// of the changes, and drops the tenant from every cache. No change writes
// nothing.
func (s *Store) UpdateSettings(ctx context.Context, actor, ref string, ifVersion *int64, fn SettingsUpdate) (Tenant, StoredSettings, error) {
	var (
		t   Tenant
		out StoredSettings
	)
	err := s.write(ctx, func(q *catalogdb.Queries) (bus.Message, error) {
		var err error
		if t, err = s.getLive(ctx, q, ref); err != nil {
			return bus.Message{}, err
		}
		cur, err := getSettings(ctx, func(ctx context.Context, id uuid.UUID) (catalogdb.GetSettingsRow, error) {
			r, err := q.GetSettingsForUpdate(ctx, id)
			return catalogdb.GetSettingsRow(r), err
		}, t)
		if err != nil {
			return bus.Message{}, err
		}
		if ifVersion != nil && *ifVersion != cur.Version {
			return bus.Message{}, fmt.Errorf("%w: expected version %d, stored %d", ErrVersionMismatch, *ifVersion, cur.Version)
		}
		next, changes, err := fn(cur.Doc)
		if err != nil {
			return bus.Message{}, err
		}
		if jsonEqual(cur.Doc, next) && cur.Version > 0 {
			out = cur
			return bus.Message{}, nil
		}
		version, err := q.PutSettings(ctx, catalogdb.PutSettingsParams{TenantID: t.ID, Doc: next})
		if err != nil {
			return bus.Message{}, err
		}
		out = StoredSettings{Doc: next, Version: version}
		return tenantMessage(t, ""), audit(ctx, q, actor, "settings.update", t.ID, nil, changes)
	})
	return t, out, err
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}
