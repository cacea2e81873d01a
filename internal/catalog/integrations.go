package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tenantkit/tenantkit/internal/bus"
	"github.com/tenantkit/tenantkit/internal/catalog/catalogdb"
)

// ErrIntegrationNotFound: the tenant has no integration of that type.
var ErrIntegrationNotFound = errors.New("catalog: integration not found")

// Integration is a tenant's own account at a provider. Credentials are
// ciphertexts under the tenant's data key, by field; the catalog never
// sees them in the clear.
type Integration struct {
	ID          uuid.UUID         `json:"id"`
	TenantID    uuid.UUID         `json:"tenant_id"`
	Type        string            `json:"type"`
	Provider    string            `json:"provider"`
	Settings    map[string]string `json:"settings"`
	Credentials map[string][]byte `json:"-"`
	Active      bool              `json:"active"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
}

func integrationFromRow(r catalogdb.TenantkitIntegration) (Integration, error) {
	in := Integration{
		ID: r.ID, TenantID: r.TenantID, Type: r.Type, Provider: r.Provider, Active: r.Active,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, Settings: map[string]string{}, Credentials: map[string][]byte{},
	}
	if err := json.Unmarshal(r.Settings, &in.Settings); err != nil {
		return in, fmt.Errorf("catalog: settings of integration %s: %w", r.ID, err)
	}
	// []byte values are base64 in JSON.
	if err := json.Unmarshal(r.Credentials, &in.Credentials); err != nil {
		return in, fmt.Errorf("catalog: credentials of integration %s: %w", r.ID, err)
	}
	return in, nil
}

// GetIntegration returns tenant's integration of type typ.
func (s *Store) GetIntegration(ctx context.Context, tenant uuid.UUID, typ string) (Integration, error) {
	row, err := s.q.GetIntegration(ctx, catalogdb.GetIntegrationParams{TenantID: tenant, Type: typ})
	if errors.Is(err, pgx.ErrNoRows) {
		return Integration{}, fmt.Errorf("%w: %s", ErrIntegrationNotFound, typ)
	}
	if err != nil {
		return Integration{}, err
	}
	return integrationFromRow(row)
}

// TenantIntegrations lists a tenant's integrations by type.
func (s *Store) TenantIntegrations(ctx context.Context, tenant uuid.UUID) ([]Integration, error) {
	rows, err := s.q.TenantIntegrations(ctx, tenant)
	if err != nil {
		return nil, err
	}
	out := make([]Integration, 0, len(rows))
	for _, r := range rows {
		in, err := integrationFromRow(r)
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, nil
}

// PutIntegration creates or replaces a tenant's integration of in.Type,
// with its id, and writes audit — which must hold no secret — as the
// record's after. Every cache drops the tenant.
func (s *Store) PutIntegration(ctx context.Context, actor string, in Integration, audited any) (Integration, error) {
	settings, err := json.Marshal(in.Settings)
	if err != nil {
		return Integration{}, err
	}
	creds, err := json.Marshal(in.Credentials)
	if err != nil {
		return Integration{}, err
	}
	var out Integration
	err = s.write(ctx, func(q *catalogdb.Queries) (bus.Message, error) {
		t, err := s.getLive(ctx, q, in.TenantID.String())
		if err != nil {
			return bus.Message{}, err
		}
		row, err := q.UpsertIntegration(ctx, catalogdb.UpsertIntegrationParams{
			ID: in.ID, TenantID: t.ID, Type: in.Type, Provider: in.Provider, Settings: settings, Credentials: creds, Active: in.Active,
		})
		if err != nil {
			return bus.Message{}, err
		}
		if out, err = integrationFromRow(row); err != nil {
			return bus.Message{}, err
		}
		return tenantMessage(t, ""), audit(ctx, q, actor, "integration.set", t.ID, nil, audited)
	})
	return out, err
}

// DeleteIntegration removes a tenant's integration of type typ: the
// platform default serves it again.
func (s *Store) DeleteIntegration(ctx context.Context, actor string, tenant uuid.UUID, typ string) error {
	return s.write(ctx, func(q *catalogdb.Queries) (bus.Message, error) {
		t, err := s.get(ctx, q, tenant.String(), true)
		if err != nil {
			return bus.Message{}, err
		}
		n, err := q.DeleteIntegration(ctx, catalogdb.DeleteIntegrationParams{TenantID: t.ID, Type: typ})
		if err != nil {
			return bus.Message{}, err
		}
		if n == 0 {
			return bus.Message{}, fmt.Errorf("%w: %s", ErrIntegrationNotFound, typ)
		}
		return tenantMessage(t, ""), audit(ctx, q, actor, "integration.remove", t.ID, map[string]string{"type": typ}, nil)
	})
}

// VerifiedDomains lists a tenant's verified custom domains.
func (s *Store) VerifiedDomains(ctx context.Context, tenant uuid.UUID) ([]string, error) {
	return s.q.VerifiedDomains(ctx, tenant)
}

// ShredTenant destroys a tenant's data keys and its integrations in one
// transaction: whatever was encrypted under them, in the catalog or in
// any copy of it, can no longer be read (crypto-shredding). A hard delete
// runs it.
func (s *Store) ShredTenant(ctx context.Context, actor, ref string) error {
	return s.write(ctx, func(q *catalogdb.Queries) (bus.Message, error) {
		t, err := s.get(ctx, q, ref, true)
		if err != nil {
			return bus.Message{}, err
		}
		n, err := q.DestroyTenantKeys(ctx, t.ID)
		if err != nil {
			return bus.Message{}, err
		}
		if _, err := q.DeleteTenantIntegrations(ctx, t.ID); err != nil {
			return bus.Message{}, err
		}
		return tenantMessage(t, ""), audit(ctx, q, actor, "tenant.shred", t.ID, nil, map[string]int64{"keys_destroyed": n})
	})
}
