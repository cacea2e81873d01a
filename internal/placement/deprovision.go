package placement

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/rlspolicy"
)

// DeleteBatch is how many rows of a shared table one statement deletes.
const DeleteBatch = 1000

// Deprovision removes a tenant's data: its database (dedicated), its
// schema (schema tier), or its rows in batches (shared), and then its
// placement. Run again after a crash, it finishes the job.
func (p *Provisioner) Deprovision(ctx context.Context, actor, ref string) error {
	pl, err := p.store.GetPlacement(ctx, ref)
	if errors.Is(err, catalog.ErrNotPlaced) {
		return nil
	}
	if err != nil {
		return err
	}
	t, err := p.store.GetTenant(ctx, ref)
	if err != nil {
		return err
	}
	if _, err := p.store.SetPlacementState(ctx, actor, ref, catalog.PlacementDeprovisioning); err != nil {
		return err
	}
	c, err := p.store.GetCluster(ctx, pl.Cluster)
	if err != nil {
		return err
	}
	if err := p.DropData(ctx, c, pl, t.ID, false); err != nil {
		return fmt.Errorf("placement: deprovision %s: %w", ref, err)
	}
	if pl.Tier != catalog.TierShared {
		if err := p.store.ForgetAppTarget(ctx, c.Name, pl.Database, pl.Schema); err != nil {
			return err
		}
	}
	return p.store.DeletePlacement(ctx, actor, ref)
}

// DropData removes a tenant's data from a placement's location: its
// database (dedicated), its schema (schema tier, or what tenantkit put in
// an adopted database) or its rows in batches (shared). A shared tenant's
// fence row is kept when keepFence is set: after a move, it turns away
// processes that still believe the tenant lives there.
func (p *Provisioner) DropData(ctx context.Context, c catalog.Cluster, pl catalog.Placement, tenant uuid.UUID, keepFence bool) error {
	switch {
	case pl.Adopted:
		// An adopted database is the operator's: tenantkit takes away
		// only what it put there.
		return p.exec(ctx, c, pl.Database, "DROP SCHEMA IF EXISTS "+pgx.Identifier{pl.Schema}.Sanitize()+" CASCADE")
	case pl.Tier == catalog.TierDedicated:
		return p.dropDatabase(ctx, c, pl.Database)
	case pl.Tier == catalog.TierSchema:
		return p.exec(ctx, c, pl.Database, "DROP SCHEMA IF EXISTS "+pgx.Identifier{pl.Schema}.Sanitize()+" CASCADE")
	default:
		return p.deleteRows(ctx, c, pl, tenant.String(), keepFence)
	}
}

func (p *Provisioner) dropDatabase(ctx context.Context, c catalog.Cluster, db string) error {
	return p.exec(ctx, c, "postgres", "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)")
}

func (p *Provisioner) exec(ctx context.Context, c catalog.Cluster, db, sql string) error {
	conn, err := pgx.Connect(ctx, catalog.WithDatabase(c.OwnerURL, db))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// deleteRows deletes a shared tenant's rows, a batch per statement and
// transaction, as the owner under the tenant's own setting (FORCE RLS
// confines the owner too). A table whose rows other rows still reference
// is retried after the others.
func (p *Provisioner) deleteRows(ctx context.Context, c catalog.Cluster, pl catalog.Placement, tenant string, keepFence bool) error {
	conn, err := pgx.Connect(ctx, catalog.WithDatabase(c.OwnerURL, pl.Database))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	tables, err := rlspolicy.TenantTables(ctx, conn, pl.Schema)
	if err != nil {
		return err
	}
	for pass := 0; len(tables) > 0; pass++ {
		if pass > len(tables)+1 {
			return fmt.Errorf("tables %v still hold rows referenced by others", tables)
		}
		var blocked []string
		for _, table := range tables {
			err := p.drain(ctx, conn, pl.Schema, table, tenant)
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "23503" { // foreign_key_violation
				blocked = append(blocked, table)
				continue
			}
			if err != nil {
				return err
			}
		}
		tables = blocked
	}
	if keepFence {
		return nil
	}
	_, err = conn.Exec(ctx, "DELETE FROM tenantkit.fence WHERE tenant_id = $1", tenant)
	return err
}

func (p *Provisioner) drain(ctx context.Context, conn *pgx.Conn, schema, table, tenant string) error {
	t := pgx.Identifier{schema, table}.Sanitize()
	sql := fmt.Sprintf("DELETE FROM %s WHERE ctid IN (SELECT ctid FROM %s LIMIT %d)", t, t, DeleteBatch)
	for {
		var n int64
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SELECT set_config($1, $2, true)", rlspolicy.Setting, tenant); err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, sql)
			n = tag.RowsAffected()
			return err
		})
		if err != nil || n == 0 {
			return err
		}
	}
}
