package rlsaudit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/tenantkit/tenantkit/internal/bootstrap"
	"github.com/tenantkit/tenantkit/internal/rlsaudit/auditdb"
)

// Target is one place that holds tenant tables: a shared database, a
// tenant's schema or a dedicated database.
type Target struct {
	// Key names the target in violations and errors.
	Key string
	// DSN connects to the target's database as the owner role or a
	// superuser. It never appears in errors or violations.
	DSN string
	// Schema holds the application's tables.
	Schema string
}

// Violation is one way a target breaks tenantkit's isolation rules.
type Violation struct {
	// Target is the Key of the target.
	Target string `json:"target"`
	// Schema is the schema of the object; empty for roles and databases.
	Schema string `json:"schema"`
	// Object is the table, view, function (with its argument types), role
	// or other object at fault, unquoted and without its schema.
	Object string `json:"object"`
	// Kind is one of the Kind constants.
	Kind string `json:"kind"`
	// Detail says what is wrong.
	Detail string `json:"detail"`
	// Fix is the SQL (or the action) that repairs it.
	Fix string `json:"fix"`
}

// String formats v on two lines, the second one the fix.
func (v Violation) String() string {
	obj := v.Object
	if v.Schema != "" && v.Schema != v.Object {
		obj = v.Schema + "." + v.Object
	}
	return fmt.Sprintf("%s: %s: %s [%s]\n  fix: %s", v.Target, obj, v.Detail, v.Kind, v.Fix)
}

// Kinds of violation. The values are stable: scripts may match on them.
const (
	// KindAppRoleMissing means the app role does not exist.
	KindAppRoleMissing = "app_role_missing"
	// KindAppRoleSuperuser means the app role is a superuser, to which row-level
	// security never applies.
	KindAppRoleSuperuser = "app_role_superuser"
	// KindAppRoleBypassRLS means the app role has BYPASSRLS.
	KindAppRoleBypassRLS = "app_role_bypassrls"
	// KindAppRoleOwner means the app role owns an object of the database (or the
	// database): an owner can disable or drop row-level security.
	KindAppRoleOwner = "app_role_owner"
	// KindAppRoleMember means the app role is a member of a role that is
	// superuser, has BYPASSRLS or owns objects of the database, so it can
	// act as that role.
	KindAppRoleMember = "app_role_member"
	// KindRLSDisabled means a tenant table does not ENABLE ROW LEVEL SECURITY.
	KindRLSDisabled = "rls_disabled"
	// KindRLSNotForced means a tenant table does not FORCE ROW LEVEL SECURITY,
	// so its owner bypasses the policies.
	KindRLSNotForced = "rls_not_forced"
	// KindPolicyMissing means a tenant table has no tenant policy.
	KindPolicyMissing = "policy_missing"
	// KindPolicyPermissive means the tenant policy is permissive, so any other
	// permissive policy widens it.
	KindPolicyPermissive = "policy_permissive"
	// KindPolicyCommand means the tenant policy is not FOR ALL commands.
	KindPolicyCommand = "policy_command"
	// KindPolicyRoles means the tenant policy does not apply to the app role.
	KindPolicyRoles = "policy_roles"
	// KindPolicyExpression means the tenant policy's USING or WITH CHECK
	// expression is not rlspolicy.Predicate.
	KindPolicyExpression = "policy_expression"
	// KindTenantNullable means a tenant table's tenant_id column allows NULL.
	KindTenantNullable = "tenant_id_nullable"
	// KindTenantDefault means a tenant table's tenant_id column does not default
	// to the current tenant (rlspolicy.CurrentTenant).
	KindTenantDefault = "tenant_id_default"
	// KindTruncateGranted means the app role may TRUNCATE a tenant table, which
	// row-level security does not filter.
	KindTruncateGranted = "truncate_granted"
	// KindPrimaryKeyMissing means a tenant table has no primary key.
	KindPrimaryKeyMissing = "primary_key_missing"
	// KindPrimaryKeyTenant means a tenant table's primary key does not start
	// with tenant_id.
	KindPrimaryKeyTenant = "primary_key_tenant"
	// KindUniqueTenant means a unique constraint or unique index of a tenant
	// table does not start with tenant_id, so tenants collide on it and
	// learn of each other's values.
	KindUniqueTenant = "unique_tenant"
	// KindViewNotInvoker means a view is not security_invoker, so it reads its
	// tables with its owner's rights.
	KindViewNotInvoker = "view_not_security_invoker"
	// KindDefinerSearchPath means a SECURITY DEFINER function does not pin
	// search_path, so a caller can substitute the objects it resolves.
	KindDefinerSearchPath = "definer_search_path"
	// KindTemporaryGranted means the app role may create temporary tables
	// in the database: one outlives the transaction that made it, on a
	// pooled connection the next tenant gets, and row-level security does
	// not guard it.
	KindTemporaryGranted = "temporary_granted"
)

// ErrSchemaNotFound is returned, wrapped with the target, when a target's
// schema does not exist: an audit of nothing must not pass.
var ErrSchemaNotFound = errors.New("rlsaudit: schema not found")

// Options tune an audit. The zero value audits tenantkit's standard roles.
type Options struct {
	// AppRole is the role the application connects as. Defaults to
	// "tenantkit_app".
	AppRole string
	// OwnerRole is the role fixes hand ownership back to. Defaults to
	// "tenantkit_owner".
	OwnerRole string
	// Concurrency is how many databases Check audits at once. Defaults
	// to 4.
	Concurrency int
}

func (o Options) withDefaults() Options {
	if o.AppRole == "" {
		o.AppRole = bootstrap.AppRole
	}
	if o.OwnerRole == "" {
		o.OwnerRole = bootstrap.OwnerRole
	}
	if o.Concurrency == 0 {
		o.Concurrency = 4
	}
	return o
}

func (o Options) validate() error {
	if o.Concurrency < 0 {
		return errors.New("rlsaudit: Concurrency must not be negative")
	}
	return nil
}

// Check audits targets and returns their violations sorted by target,
// schema, object and kind. Targets that share a DSN share one connection,
// and the checks of the database and its roles run once for them, reported
// under the first of their keys in sorted order. An error means a target could not be
// audited (it names the targets); the violations of the others are still
// returned.
func Check(ctx context.Context, targets []Target, opts Options) ([]Violation, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if err := validateTargets(targets); err != nil {
		return nil, err
	}
	groups := groupByDSN(targets)
	var (
		mu   sync.Mutex
		all  []Violation
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, opts.Concurrency)
	)
	for _, g := range groups {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			vs, err := checkGroup(ctx, g, opts)
			mu.Lock()
			defer mu.Unlock()
			all = append(all, vs...)
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	sortViolations(all)
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return all, errors.Join(errs...)
}

// CheckConn audits one target — schema, in the database conn is connected
// to — and reports it under key. conn is connected as in Target.DSN. The
// audit runs in a read-only transaction of its own.
func CheckConn(ctx context.Context, conn *pgx.Conn, key, schema string, opts Options) ([]Violation, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	var vs []Violation
	err := readOnly(ctx, conn, func(q *auditdb.Queries) error {
		a := &audit{q: q, opts: opts, key: key}
		if err := a.database(ctx); err != nil {
			return err
		}
		if err := a.schema(ctx, schema); err != nil {
			return err
		}
		vs = a.found
		return nil
	})
	if errors.Is(err, ErrSchemaNotFound) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("rlsaudit: target %s: %w", key, err)
	}
	sortViolations(vs)
	return vs, nil
}

func validateTargets(targets []Target) error {
	seen := make(map[string]bool, len(targets))
	for i, t := range targets {
		switch {
		case t.Key == "":
			return fmt.Errorf("rlsaudit: target %d has no Key", i)
		case t.DSN == "":
			return fmt.Errorf("rlsaudit: target %s has no DSN", t.Key)
		case t.Schema == "":
			return fmt.Errorf("rlsaudit: target %s has no Schema", t.Key)
		case seen[t.Key]:
			return fmt.Errorf("rlsaudit: target %s is listed twice", t.Key)
		}
		seen[t.Key] = true
	}
	return nil
}

// groupByDSN groups targets by DSN, each group sorted by key.
func groupByDSN(targets []Target) [][]Target {
	sorted := slices.Clone(targets)
	slices.SortFunc(sorted, func(a, b Target) int { return strings.Compare(a.Key, b.Key) })
	index := map[string]int{}
	var groups [][]Target
	for _, t := range sorted {
		i, ok := index[t.DSN]
		if !ok {
			i = len(groups)
			index[t.DSN] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], t)
	}
	return groups
}

// checkGroup audits targets that share a database over one connection.
func checkGroup(ctx context.Context, g []Target, opts Options) ([]Violation, error) {
	conn, err := pgx.Connect(ctx, g[0].DSN)
	if err != nil {
		return nil, fmt.Errorf("rlsaudit: %s: connect: %w", targetNames(g), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	a := &audit{opts: opts, key: g[0].Key}
	var missing []error
	err = readOnly(ctx, conn, func(q *auditdb.Queries) error {
		a.q = q
		if err := a.database(ctx); err != nil {
			return fmt.Errorf("rlsaudit: %s: %w", targetNames(g), err)
		}
		for _, t := range g {
			a.key = t.Key
			err := a.schema(ctx, t.Schema)
			switch {
			case errors.Is(err, ErrSchemaNotFound):
				missing = append(missing, err) // the other schemas can still be audited
			case err != nil:
				return fmt.Errorf("rlsaudit: target %s: %w", t.Key, err)
			}
		}
		return nil
	})
	return a.found, errors.Join(append(missing, err)...)
}

// readOnly runs fn in a read-only REPEATABLE READ transaction, so that
// every check sees the same catalog snapshot and none can write.
func readOnly(ctx context.Context, conn *pgx.Conn, fn func(*auditdb.Queries) error) error {
	return pgx.BeginTxFunc(ctx, conn, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly},
		func(tx pgx.Tx) error { return fn(auditdb.New(tx)) })
}

// targetNames names a group of targets in an error, at most three keys.
func targetNames(g []Target) string {
	const most = 3
	keys := make([]string, 0, most)
	for _, t := range g[:min(len(g), most)] {
		keys = append(keys, t.Key)
	}
	s := strings.Join(keys, ", ")
	if len(g) > most {
		s += fmt.Sprintf(" and %d more", len(g)-most)
	}
	if len(g) == 1 {
		return "target " + s
	}
	return "targets " + s
}

func sortViolations(vs []Violation) {
	slices.SortFunc(vs, func(a, b Violation) int {
		return cmp.Or(
			strings.Compare(a.Target, b.Target),
			strings.Compare(a.Schema, b.Schema),
			strings.Compare(a.Object, b.Object),
			strings.Compare(a.Kind, b.Kind),
			strings.Compare(a.Detail, b.Detail),
		)
	})
}
