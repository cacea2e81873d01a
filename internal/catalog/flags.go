package catalog

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tenantkit/tenantkit/internal/bus"
	"github.com/tenantkit/tenantkit/internal/catalog/catalogdb"
	"github.com/tenantkit/tenantkit/internal/flags"
)

// Errors of flags.
var (
	ErrFlagNotFound = errors.New("catalog: flag not found")
	ErrFlagExists   = errors.New("catalog: flag already exists")
)

// Flag is a feature flag as the catalog stores it, with its per-tenant
// overrides.
type Flag struct {
	Key         string `json:"key"`
	Description string `json:"description"`
	// KillSwitch turns the flag off for every tenant without an override.
	KillSwitch bool `json:"kill_switch"`
	// Default is the value when no rule decides.
	Default bool `json:"default"`
	// Rollout is the share of tenants that get the flag, in basis points
	// (0.01 % steps, 0..10000).
	Rollout int `json:"rollout"`
	// MinPlan, when set, gates the flag to tenants on that plan's rank or
	// higher.
	MinPlan string `json:"min_plan,omitempty"`
	// Seed, when set, is hashed instead of the key, so flags sharing a
	// seed pick the same cohort.
	Seed      string             `json:"seed,omitempty"`
	Overrides map[uuid.UUID]bool `json:"overrides"`
	CreatedAt time.Time          `json:"created_at"`
	UpdatedAt time.Time          `json:"updated_at"`
}

// FlagParams are the fields of a flag. On update, nil leaves a field as
// it is; an empty MinPlan removes the plan gate.
type FlagParams struct {
	Key         string  `json:"key"`
	Description *string `json:"description,omitempty"`
	KillSwitch  *bool   `json:"kill_switch,omitempty"`
	Default     *bool   `json:"default,omitempty"`
	Rollout     *int    `json:"rollout,omitempty"`
	MinPlan     *string `json:"min_plan,omitempty"`
	Seed        *string `json:"seed,omitempty"`
}

var flagKey = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,99}$`)

func validateFlagParams(ctx context.Context, q *catalogdb.Queries, v *ValidationError, p FlagParams) error {
	if !flagKey.MatchString(p.Key) {
		v.add("key", "must be 1-100 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	if p.Description != nil && len(*p.Description) > 500 {
		v.add("description", "must be at most 500 characters")
	}
	if p.Rollout != nil && (*p.Rollout < 0 || *p.Rollout > 10000) {
		v.add("rollout", "must be between 0 and 10000 basis points (0 to 100 %)")
	}
	if p.Seed != nil && len(*p.Seed) > 100 {
		v.add("seed", "must be at most 100 characters")
	}
	if p.MinPlan != nil && *p.MinPlan != "" {
		return (&Store{}).checkPlan(ctx, q, v, *p.MinPlan)
	}
	return nil
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func flagFromRow(r catalogdb.TenantkitFlag) Flag {
	return Flag{
		Key: r.Key, Description: r.Description, KillSwitch: r.KillSwitch, Default: r.DefaultValue,
		Rollout: int(r.Rollout), MinPlan: deref(r.MinPlan, ""), Seed: r.Seed,
		Overrides: map[uuid.UUID]bool{}, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
}

// FlagSet is every flag with its overrides, and every plan's rank: what a
// flag snapshot is built from, read in one transaction.
type FlagSet struct {
	Flags     []Flag
	PlanRanks map[string]int
}

// Snapshot builds the evaluation snapshot of the set: what the data plane
// evaluates in process and the admin API explains.
func (set FlagSet) Snapshot() (*flags.Snapshot, error) {
	fs := make([]flags.Flag, len(set.Flags))
	for i, f := range set.Flags {
		fs[i] = flags.Flag{
			Key: f.Key, Description: f.Description, KillSwitch: f.KillSwitch, Default: f.Default,
			Rollout: f.Rollout, MinPlan: f.MinPlan, Seed: f.Seed, Overrides: f.Overrides,
		}
	}
	return flags.NewSnapshot(fs, set.PlanRanks)
}

// LoadFlags reads every flag, override and plan rank consistently.
func (s *Store) LoadFlags(ctx context.Context) (FlagSet, error) {
	var set FlagSet
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		q := s.q.WithTx(tx)
		flags, err := listFlags(ctx, q)
		if err != nil {
			return err
		}
		ranks, err := q.ListPlanRanks(ctx)
		if err != nil {
			return err
		}
		set = FlagSet{Flags: flags, PlanRanks: make(map[string]int, len(ranks))}
		for _, r := range ranks {
			set.PlanRanks[r.Name] = int(r.Rank)
		}
		return nil
	})
	if err != nil {
		return FlagSet{}, fmt.Errorf("catalog: load flags: %w", err)
	}
	return set, nil
}

// ListFlags returns every flag with its overrides, by key.
func (s *Store) ListFlags(ctx context.Context) ([]Flag, error) { return listFlags(ctx, s.q) }

func listFlags(ctx context.Context, q *catalogdb.Queries) ([]Flag, error) {
	rows, err := q.ListFlags(ctx)
	if err != nil {
		return nil, err
	}
	overrides, err := q.ListFlagOverrides(ctx)
	if err != nil {
		return nil, err
	}
	flags := make([]Flag, len(rows))
	byKey := make(map[string]*Flag, len(rows))
	for i, r := range rows {
		flags[i] = flagFromRow(r)
		byKey[r.Key] = &flags[i]
	}
	for _, o := range overrides {
		if f := byKey[o.Flag]; f != nil {
			f.Overrides[o.TenantID] = o.Value
		}
	}
	return flags, nil
}

// GetFlag returns one flag with its overrides.
func (s *Store) GetFlag(ctx context.Context, key string) (Flag, error) { return getFlag(ctx, s.q, key) }

func getFlag(ctx context.Context, q *catalogdb.Queries, key string) (Flag, error) {
	row, err := q.GetFlag(ctx, key)
	if errors.Is(err, pgx.ErrNoRows) {
		return Flag{}, fmt.Errorf("%w: %q", ErrFlagNotFound, key)
	}
	if err != nil {
		return Flag{}, err
	}
	f := flagFromRow(row)
	overrides, err := q.FlagOverridesOf(ctx, key)
	if err != nil {
		return Flag{}, err
	}
	for _, o := range overrides {
		f.Overrides[o.TenantID] = o.Value
	}
	return f, nil
}

// CreateFlag creates a flag.
func (s *Store) CreateFlag(ctx context.Context, actor string, p FlagParams) (Flag, error) {
	var f Flag
	err := s.write(ctx, func(q *catalogdb.Queries) (bus.Message, error) {
		v := &ValidationError{}
		if err := validateFlagParams(ctx, q, v, p); err != nil {
			return bus.Message{}, err
		}
		if err := v.orNil(); err != nil {
			return bus.Message{}, err
		}
		row, err := q.CreateFlag(ctx, catalogdb.CreateFlagParams{
			Key: p.Key, Description: strings.TrimSpace(deref(p.Description, "")), KillSwitch: deref(p.KillSwitch, false),
			DefaultValue: deref(p.Default, false), Rollout: int32(deref(p.Rollout, 0)),
			MinPlan: nullable(deref(p.MinPlan, "")), Seed: deref(p.Seed, ""),
		})
		if isUnique(err) {
			return bus.Message{}, fmt.Errorf("%w: %q", ErrFlagExists, p.Key)
		}
		if err != nil {
			return bus.Message{}, err
		}
		f = flagFromRow(row)
		return bus.Message{Flags: true}, auditTarget(ctx, q, actor, "flag.create", "flag", f.Key, nil, f)
	})
	return f, err
}

// UpdateFlag changes a flag; the change is audited with before and after.
func (s *Store) UpdateFlag(ctx context.Context, actor string, p FlagParams) (Flag, error) {
	var f Flag
	err := s.write(ctx, func(q *catalogdb.Queries) (bus.Message, error) {
		v := &ValidationError{}
		if err := validateFlagParams(ctx, q, v, p); err != nil {
			return bus.Message{}, err
		}
		if err := v.orNil(); err != nil {
			return bus.Message{}, err
		}
		row, err := q.GetFlagForUpdate(ctx, p.Key)
		if errors.Is(err, pgx.ErrNoRows) {
			return bus.Message{}, fmt.Errorf("%w: %q", ErrFlagNotFound, p.Key)
		}
		if err != nil {
			return bus.Message{}, err
		}
		before := flagFromRow(row)
		minPlan := row.MinPlan
		if p.MinPlan != nil {
			minPlan = nullable(*p.MinPlan)
		}
		row, err = q.UpdateFlag(ctx, catalogdb.UpdateFlagParams{
			Key: p.Key, Description: strings.TrimSpace(deref(p.Description, row.Description)),
			KillSwitch: deref(p.KillSwitch, row.KillSwitch), DefaultValue: deref(p.Default, row.DefaultValue),
			Rollout: int32(deref(p.Rollout, int(row.Rollout))), MinPlan: minPlan, Seed: deref(p.Seed, row.Seed),
		})
		if err != nil {
			return bus.Message{}, err
		}
		if f, err = getFlag(ctx, q, p.Key); err != nil {
			return bus.Message{}, err
		}
		after := flagFromRow(row)
		return bus.Message{Flags: true}, auditTarget(ctx, q, actor, "flag.update", "flag", f.Key, before, after)
	})
	return f, err
}

// DeleteFlag deletes a flag and its overrides.
func (s *Store) DeleteFlag(ctx context.Context, actor, key string) error {
	return s.write(ctx, func(q *catalogdb.Queries) (bus.Message, error) {
		before, err := getFlag(ctx, q, key)
		if err != nil {
			return bus.Message{}, err
		}
		if _, err := q.DeleteFlag(ctx, key); err != nil {
			return bus.Message{}, err
		}
		return bus.Message{Flags: true}, auditTarget(ctx, q, actor, "flag.delete", "flag", key, before, nil)
	})
}

// SetFlagOverride gives one tenant its own value of a flag; a nil value
// removes the override.
func (s *Store) SetFlagOverride(ctx context.Context, actor, key, tenantRef string, value *bool) (Flag, error) {
	var f Flag
	err := s.write(ctx, func(q *catalogdb.Queries) (bus.Message, error) {
		if _, err := q.GetFlagForUpdate(ctx, key); errors.Is(err, pgx.ErrNoRows) {
			return bus.Message{}, fmt.Errorf("%w: %q", ErrFlagNotFound, key)
		} else if err != nil {
			return bus.Message{}, err
		}
		t, err := s.get(ctx, q, tenantRef, false)
		if err != nil {
			return bus.Message{}, err
		}
		var before *bool
		if prev, err := getFlag(ctx, q, key); err == nil {
			if v, ok := prev.Overrides[t.ID]; ok {
				before = &v
			}
		}
		if value == nil {
			_, err = q.ClearFlagOverride(ctx, catalogdb.ClearFlagOverrideParams{Flag: key, TenantID: t.ID})
		} else {
			err = q.SetFlagOverride(ctx, catalogdb.SetFlagOverrideParams{Flag: key, TenantID: t.ID, Value: *value})
		}
		if err != nil {
			return bus.Message{}, err
		}
		if f, err = getFlag(ctx, q, key); err != nil {
			return bus.Message{}, err
		}
		rec := func(v *bool) any {
			if v == nil {
				return nil
			}
			return map[string]any{"tenant": t.Slug, "value": *v}
		}
		return bus.Message{Flags: true}, auditTarget(ctx, q, actor, "flag.override", "flag", key, rec(before), rec(value))
	})
	return f, err
}

// FlagAudit lists the audit log of a flag, oldest first.
func (s *Store) FlagAudit(ctx context.Context, key string) ([]AuditEntry, error) {
	return s.q.ListAudit(ctx, catalogdb.ListAuditParams{TargetType: "flag", TargetID: key})
}
