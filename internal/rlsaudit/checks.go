package rlsaudit

import (
	"context"
	"fmt"
	"strings"

	"github.com/tenantkit/tenantkit/internal/rlsaudit/auditdb"
	"github.com/tenantkit/tenantkit/internal/rlspolicy"
)

// audit collects the violations of the targets of one database.
type audit struct {
	q     *auditdb.Queries
	opts  Options
	key   string // the target violations are reported under
	role  *auditdb.AppRoleRow
	app   string // the app role, quoted for SQL
	owner string // the owner role, quoted for SQL
	found []Violation
}

func (a *audit) add(schema, object, kind, detail, fix string) {
	a.found = append(a.found, Violation{Target: a.key, Schema: schema, Object: object, Kind: kind, Detail: detail, Fix: fix})
}

// database checks what is common to every schema of the database: the app
// role's attributes, memberships and ownerships.
func (a *audit) database(ctx context.Context) error {
	var err error
	if a.app, err = a.q.QuoteIdent(ctx, a.opts.AppRole); err != nil {
		return err
	}
	if a.owner, err = a.q.QuoteIdent(ctx, a.opts.OwnerRole); err != nil {
		return err
	}
	roles, err := a.q.AppRole(ctx, a.opts.AppRole)
	if err != nil {
		return err
	}
	if len(roles) == 0 {
		a.add("", a.opts.AppRole, KindAppRoleMissing,
			fmt.Sprintf("app role %s does not exist (is the audit given the role the application connects as?)", a.opts.AppRole),
			fmt.Sprintf("CREATE ROLE %s LOGIN NOSUPERUSER NOBYPASSRLS;", a.app))
		return nil
	}
	a.role = &roles[0]
	a.roleAttributes()
	if err := a.memberships(ctx); err != nil {
		return err
	}
	if err := a.temporary(ctx); err != nil {
		return err
	}
	return a.ownerships(ctx)
}

// temporary reports a TEMPORARY privilege the app role holds on the
// database, through PUBLIC (the default of CREATE DATABASE) or otherwise.
func (a *audit) temporary(ctx context.Context) error {
	row, err := a.q.TemporaryGranted(ctx, a.role.Oid)
	if err != nil || row.Grantees == "" {
		return err
	}
	a.add("", row.Database, KindTemporaryGranted,
		fmt.Sprintf("app role %s may create temporary tables in database %s (granted to %s): one outlives its transaction on a pooled connection the next tenant gets, unguarded by row-level security",
			a.opts.AppRole, row.Database, row.Grantees),
		fmt.Sprintf("REVOKE TEMPORARY ON DATABASE %s FROM %s;", row.Quoted, row.Grantees))
	return nil
}

func (a *audit) roleAttributes() {
	name := a.opts.AppRole
	if a.role.Superuser {
		a.add("", name, KindAppRoleSuperuser, fmt.Sprintf("app role %s is a superuser: row-level security never applies to it", name),
			fmt.Sprintf("ALTER ROLE %s NOSUPERUSER;", a.app))
	}
	if a.role.Bypassrls {
		a.add("", name, KindAppRoleBypassRLS, fmt.Sprintf("app role %s has BYPASSRLS: row-level security never applies to it", name),
			fmt.Sprintf("ALTER ROLE %s NOBYPASSRLS;", a.app))
	}
}

func (a *audit) memberships(ctx context.Context) error {
	rows, err := a.q.PrivilegedMemberships(ctx, a.role.Oid)
	if err != nil {
		return err
	}
	for _, r := range rows {
		var why []string
		if r.Superuser {
			why = append(why, "is a superuser")
		}
		if r.Bypassrls {
			why = append(why, "has BYPASSRLS")
		}
		if r.Owns {
			why = append(why, "owns objects of this database")
		}
		through, fix := "", fmt.Sprintf("REVOKE %s FROM %s;", strings.Join(r.Via, ", "), a.app)
		if len(r.Via) != 1 || r.Via[0] != r.QuotedRole {
			through = " (through " + strings.Join(r.Via, ", ") + ")"
			fix += " -- the memberships that lead to " + r.QuotedRole
		}
		a.add("", r.RoleName, KindAppRoleMember,
			fmt.Sprintf("app role %s is a member of role %s%s, which %s: it can act as that role",
				a.opts.AppRole, r.RoleName, through, strings.Join(why, " and ")),
			fix)
	}
	return nil
}

func (a *audit) ownerships(ctx context.Context) error {
	rows, err := a.q.OwnedObjects(ctx, a.role.Oid)
	if err != nil {
		return err
	}
	for _, o := range rows {
		a.add(o.SchemaName, o.ObjectName, KindAppRoleOwner,
			fmt.Sprintf("app role %s owns %s %s: an owner can alter, disable or bypass row-level security", a.opts.AppRole, o.ObjectType, o.Identity),
			fmt.Sprintf("ALTER %s %s OWNER TO %s;", alterKeyword(o.ObjectType), o.Identity, a.owner))
	}
	return nil
}

// alterKeyword is the ALTER … OWNER TO keyword of a pg_identify_object type.
func alterKeyword(objectType string) string {
	switch objectType {
	case "statistics object":
		return "STATISTICS"
	case "foreign-data wrapper":
		return "FOREIGN DATA WRAPPER"
	}
	return strings.ToUpper(objectType)
}

// schema checks the tenant tables, views and functions of schema.
func (a *audit) schema(ctx context.Context, schema string) error {
	ok, err := a.q.SchemaExists(ctx, schema)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: target %s, schema %q", ErrSchemaNotFound, a.key, schema)
	}
	for _, check := range []func(context.Context, string) error{a.tables, a.truncate, a.keys, a.views, a.definers} {
		if err := check(ctx, schema); err != nil {
			return err
		}
	}
	return nil
}

func (a *audit) tables(ctx context.Context, schema string) error {
	tables, err := a.q.TenantTables(ctx, auditdb.TenantTablesParams{SchemaName: schema, TenantColumn: rlspolicy.TenantColumn})
	if err != nil {
		return err
	}
	policies, err := a.q.TenantPolicies(ctx, auditdb.TenantPoliciesParams{
		SchemaName: schema, TenantColumn: rlspolicy.TenantColumn, RoleName: a.opts.AppRole})
	if err != nil {
		return err
	}
	byTable := map[string][]auditdb.TenantPoliciesRow{}
	for _, p := range policies {
		byTable[p.TableName] = append(byTable[p.TableName], p)
	}
	for _, t := range tables {
		a.table(schema, t)
		a.policy(schema, t, byTable[t.TableName])
	}
	return nil
}

// table checks a tenant table's switches, tenant_id column and primary key.
func (a *audit) table(schema string, t auditdb.TenantTablesRow) {
	if !t.RlsEnabled {
		a.add(schema, t.TableName, KindRLSDisabled, fmt.Sprintf("table %s does not enable row-level security", t.Qualified),
			fmt.Sprintf("ALTER TABLE %s ENABLE ROW LEVEL SECURITY;", t.Qualified))
	}
	if !t.RlsForced {
		a.add(schema, t.TableName, KindRLSNotForced, fmt.Sprintf("table %s does not force row-level security: its owner bypasses it", t.Qualified),
			fmt.Sprintf("ALTER TABLE %s FORCE ROW LEVEL SECURITY;", t.Qualified))
	}
	if !t.TenantNotNull {
		a.add(schema, t.TableName, KindTenantNullable, fmt.Sprintf("column %s.tenant_id allows NULL", t.Qualified),
			fmt.Sprintf("ALTER TABLE %s ALTER COLUMN tenant_id SET NOT NULL;", t.Qualified))
	}
	if !sameExpr(t.TenantDefault, rlspolicy.CurrentTenant) {
		got := "no default"
		if t.TenantDefault != "" {
			got = "default " + t.TenantDefault
		}
		a.add(schema, t.TableName, KindTenantDefault,
			fmt.Sprintf("column %s.tenant_id has %s, not the current tenant %s", t.Qualified, got, rlspolicy.CurrentTenant),
			fmt.Sprintf("ALTER TABLE %s ALTER COLUMN tenant_id SET DEFAULT %s;", t.Qualified, rlspolicy.CurrentTenant))
	}
	if !t.HasPrimaryKey {
		cols := "tenant_id, <key columns>"
		if t.HasID {
			cols = "tenant_id, id"
		}
		a.add(schema, t.TableName, KindPrimaryKeyMissing, fmt.Sprintf("table %s has no primary key", t.Qualified),
			fmt.Sprintf("ALTER TABLE %s ADD PRIMARY KEY (%s);", t.Qualified, cols))
	}
}

// policy checks that a restrictive FOR ALL policy applying to the app role
// confines reads and writes to the current tenant. Any policy will do, so
// that one renamed by hand still counts; when none does, the defects of
// rlspolicy.TenantPolicy are reported.
func (a *audit) policy(schema string, t auditdb.TenantTablesRow, policies []auditdb.TenantPoliciesRow) {
	var named *auditdb.TenantPoliciesRow
	for i, p := range policies {
		if len(policyDefects(p)) == 0 {
			return
		}
		if p.PolicyName == rlspolicy.TenantPolicy {
			named = &policies[i]
		}
	}
	fix := fmt.Sprintf("DROP POLICY IF EXISTS %s ON %s; CREATE POLICY %s ON %s AS RESTRICTIVE FOR ALL TO PUBLIC USING %s WITH CHECK %s;",
		rlspolicy.TenantPolicy, t.Qualified, rlspolicy.TenantPolicy, t.Qualified, rlspolicy.Predicate, rlspolicy.Predicate)
	if named == nil {
		a.add(schema, t.TableName, KindPolicyMissing,
			fmt.Sprintf("table %s has no restrictive FOR ALL policy USING and WITH CHECK %s", t.Qualified, rlspolicy.Predicate), fix)
		return
	}
	defects := policyDefects(*named)
	a.add(schema, t.TableName, defects[0].kind,
		fmt.Sprintf("policy %s on %s %s", named.PolicyName, t.Qualified, joinDefects(defects)), fix)
}

type defect struct{ kind, detail string }

// policyDefects lists what keeps p from being the tenant policy, most
// fundamental first.
func policyDefects(p auditdb.TenantPoliciesRow) []defect {
	var ds []defect
	if p.Permissive {
		ds = append(ds, defect{KindPolicyPermissive, "is permissive, not restrictive"})
	}
	if p.Command != "*" {
		ds = append(ds, defect{KindPolicyCommand, "is for " + commandName(p.Command) + " only, not for ALL commands"})
	}
	if !p.AppliesToRole {
		ds = append(ds, defect{KindPolicyRoles, "does not apply to the app role"})
	}
	if !sameExpr(p.UsingExpr, rlspolicy.Predicate) {
		ds = append(ds, defect{KindPolicyExpression, "has USING " + orNone(p.UsingExpr)})
	}
	// An ALL policy without WITH CHECK checks new rows with USING.
	if p.CheckExpr != "" && !sameExpr(p.CheckExpr, rlspolicy.Predicate) {
		ds = append(ds, defect{KindPolicyExpression, "has WITH CHECK " + p.CheckExpr})
	}
	return ds
}

func joinDefects(ds []defect) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = d.detail
	}
	return strings.Join(s, ", ") + "; want a restrictive FOR ALL policy USING and WITH CHECK " + rlspolicy.Predicate
}

func orNone(expr string) string {
	if expr == "" {
		return "(none)"
	}
	return expr
}

// commandName names a pg_policy.polcmd.
func commandName(cmd string) string {
	switch cmd {
	case "r":
		return "SELECT"
	case "a":
		return "INSERT"
	case "w":
		return "UPDATE"
	case "d":
		return "DELETE"
	}
	return cmd
}

// truncate reports the tenant tables the app role may TRUNCATE. A
// superuser may do anything; that is reported once, as a role attribute.
func (a *audit) truncate(ctx context.Context, schema string) error {
	if a.role == nil || a.role.Superuser {
		return nil
	}
	rows, err := a.q.TruncatableTenantTables(ctx, auditdb.TruncatableTenantTablesParams{
		RoleOid: a.role.Oid, SchemaName: schema, TenantColumn: rlspolicy.TenantColumn})
	if err != nil {
		return err
	}
	for _, t := range rows {
		grantees := t.Grantees
		if len(grantees) == 0 {
			grantees = []string{a.app}
		}
		fixes := make([]string, len(grantees))
		for i, g := range grantees {
			fixes[i] = fmt.Sprintf("REVOKE TRUNCATE ON %s FROM %s;", t.Qualified, g)
		}
		a.add(schema, t.TableName, KindTruncateGranted,
			fmt.Sprintf("app role %s may TRUNCATE %s (granted to %s): TRUNCATE ignores row-level security",
				a.opts.AppRole, t.Qualified, strings.Join(grantees, ", ")),
			strings.Join(fixes, " "))
	}
	return nil
}

// keys reports the unique keys of tenant tables that do not start with
// tenant_id.
func (a *audit) keys(ctx context.Context, schema string) error {
	rows, err := a.q.UniqueKeys(ctx, auditdb.UniqueKeysParams{SchemaName: schema, TenantColumn: rlspolicy.TenantColumn})
	if err != nil {
		return err
	}
	for _, k := range rows {
		if k.LeadsWithTenant {
			continue
		}
		kind, what := KindUniqueTenant, "unique index"
		switch {
		case k.IsPrimary:
			kind, what = KindPrimaryKeyTenant, "primary key"
		case k.ConstraintName != "":
			what = "unique constraint"
		}
		name := k.IndexName
		if k.ConstraintName != "" {
			name = k.ConstraintName
		}
		detail := fmt.Sprintf("%s %s of %s does not start with tenant_id: %s", what, name, k.Qualified, k.Definition)
		if k.ConstraintName != "" {
			detail += " (foreign keys that reference it must be dropped first and recreated as composite keys)"
		}
		a.add(schema, k.TableName, kind, detail, keyFix(k))
	}
	return nil
}

// keyFix recreates a key with tenant_id first.
func keyFix(k auditdb.UniqueKeysRow) string {
	cols := []string{rlspolicy.TenantColumn}
	for _, c := range k.KeyColumns {
		if c != rlspolicy.TenantColumn {
			cols = append(cols, c)
		}
	}
	list := strings.Join(cols, ", ")
	if k.ConstraintName != "" {
		what := "UNIQUE"
		if k.IsPrimary {
			what = "PRIMARY KEY"
		}
		return fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT %s, ADD CONSTRAINT %s %s (%s);",
			k.Qualified, k.QuotedConstraint, k.QuotedConstraint, what, list)
	}
	where := ""
	if k.Predicate != "" {
		where = " WHERE " + k.Predicate
	}
	return fmt.Sprintf("DROP INDEX %s; CREATE UNIQUE INDEX %s ON %s (%s)%s;", k.QualifiedIndex, k.QuotedIndex, k.Qualified, list, where)
}

// views reports the views of schema that are not security_invoker.
func (a *audit) views(ctx context.Context, schema string) error {
	rows, err := a.q.Views(ctx, schema)
	if err != nil {
		return err
	}
	for _, v := range rows {
		if securityInvoker(v.Options) {
			continue
		}
		a.add(schema, v.ViewName, KindViewNotInvoker,
			fmt.Sprintf("view %s is not security_invoker: it reads its tables with its owner's rights", v.Qualified),
			fmt.Sprintf("ALTER VIEW %s SET (security_invoker = true);", v.Qualified))
	}
	return nil
}

// securityInvoker tells whether reloptions set security_invoker to true,
// in any spelling PostgreSQL's parse_bool accepts.
func securityInvoker(options []string) bool {
	for _, o := range options {
		k, v, _ := strings.Cut(o, "=")
		if strings.EqualFold(k, "security_invoker") {
			return parseBool(v)
		}
	}
	return false
}

func parseBool(v string) bool {
	v = strings.ToLower(strings.TrimSpace(v))
	return v == "1" || v == "on" ||
		(v != "" && (strings.HasPrefix("true", v) || strings.HasPrefix("yes", v)))
}

// definers reports the SECURITY DEFINER functions of schema that do not
// set search_path.
func (a *audit) definers(ctx context.Context, schema string) error {
	rows, err := a.q.SecurityDefinerFunctions(ctx, schema)
	if err != nil {
		return err
	}
	for _, f := range rows {
		if setsSearchPath(f.Config) {
			continue
		}
		what := "FUNCTION"
		if f.IsProcedure {
			what = "PROCEDURE"
		}
		a.add(schema, f.FunctionName, KindDefinerSearchPath,
			fmt.Sprintf("SECURITY DEFINER %s %s does not set search_path: a caller can substitute the objects it resolves",
				strings.ToLower(what), f.Qualified),
			fmt.Sprintf("ALTER %s %s SET search_path = %s, pg_temp;", what, f.Qualified, f.QuotedSchema))
	}
	return nil
}

func setsSearchPath(config []string) bool {
	for _, c := range config {
		k, _, _ := strings.Cut(c, "=")
		if strings.EqualFold(k, "search_path") {
			return true
		}
	}
	return false
}
