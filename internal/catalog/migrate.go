package catalog

import (
	"bufio"
	"cmp"
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
	"github.com/pressly/goose/v3/lock"

	"github.com/tenantkit/tenantkit/internal/catalog/catalogdb"
	"github.com/tenantkit/tenantkit/internal/jobs"
)

// Catalog migrations are expand/contract, so that a fleet upgrades while it
// serves: the previous release's instances keep working on a catalog the
// next release has migrated.
//
// Every migration file declares its phase on a line of its own before
// "-- +goose Up":
//
//	-- tenantkit:phase expand
//
// An expand migration only adds what older code ignores: tables, columns
// that are nullable or have a default, indexes, functions. It is applied by
// catalog migrate and by serve at start. A contract migration removes or
// tightens something an older release reads or writes (a dropped or renamed
// column, a new constraint); it is held back until the operator asks for it
// (catalog migrate --contract) and, even then, while an instance built for
// an older catalog heartbeats in tenantkit.instances. Migrations stay
// linear: a migration held back holds back every later one, so the catalog
// is always exactly the first N migrations.
//
// A catalog with no migration applied holds nothing anyone could serve
// from: it gets every migration, contract ones too.

//go:embed migrations/*.sql
var migrationFS embed.FS

// MigrationsTable records the catalog's applied migrations.
const MigrationsTable = "tenantkit.catalog_migrations"

// Phase is when a catalog migration may run during a rolling upgrade.
type Phase string

// The phases of catalog migrations.
const (
	// PhaseExpand adds only what older releases ignore: they keep serving
	// on the migrated catalog.
	PhaseExpand Phase = "expand"
	// PhaseContract removes or tightens what an older release may use: it
	// waits until no such release serves.
	PhaseContract Phase = "contract"
)

// phaseDirective starts the line that declares a migration's phase.
const phaseDirective = "-- tenantkit:phase "

// Heartbeat defaults.
const (
	// DefaultHeartbeatInterval is how often a serving instance records
	// that it is alive.
	DefaultHeartbeatInterval = 10 * time.Second
	// DefaultInstanceTTL is how long an instance counts as serving after
	// its last heartbeat.
	DefaultInstanceTTL = time.Minute
)

// ErrHeldBack is returned by Migrate when an expand migration this binary
// needs waits behind a contract migration that is held back.
var ErrHeldBack = errors.New("catalog: migration held back")

// Migration is one catalog migration this binary carries.
type Migration struct {
	Version int64  `json:"version"`
	Name    string `json:"name"`
	Phase   Phase  `json:"phase"`
	// SQL is the migration's up section, as the file has it.
	SQL string `json:"sql,omitempty"`
}

// MigrationStatus is one catalog migration and whether it is applied.
type MigrationStatus struct {
	Version int64  `json:"version"`
	Name    string `json:"name"`
	Phase   Phase  `json:"phase"`
	Applied bool   `json:"applied"`
}

// Instance is a serving process as its last heartbeat recorded it.
type Instance struct {
	ID      uuid.UUID `json:"id"`
	Version string    `json:"version"`
	// SchemaVersion is the newest catalog migration the instance's binary
	// carries: the catalog it was built for.
	SchemaVersion int64     `json:"schema_version"`
	Hostname      string    `json:"hostname"`
	PID           int32     `json:"pid"`
	Addr          string    `json:"addr"`
	StartedAt     time.Time `json:"started_at"`
	LastSeen      time.Time `json:"last_seen"`
}

// Step is a pending migration and what catalog migrate does with it.
type Step struct {
	Migration
	// Apply is true when the run applies it; otherwise HeldBack says why
	// not.
	Apply    bool   `json:"apply"`
	HeldBack string `json:"held_back,omitempty"`
}

// MigrationPlan is what a catalog migrate run does.
type MigrationPlan struct {
	// CatalogVersion is the newest migration applied to the catalog.
	CatalogVersion int64 `json:"catalog_version"`
	// SchemaVersion is the newest migration this binary carries.
	SchemaVersion int64 `json:"schema_version"`
	// Pending are the migrations not applied yet, in order.
	Pending []Step `json:"pending"`
	// Newer are applied migrations this binary does not know: a newer
	// release migrated the catalog.
	Newer []int64 `json:"newer,omitempty"`
	// Instances are the instances serving now (the catalog has them from
	// migration 00008 on).
	Instances []Instance `json:"instances"`
}

// StatusReport is the catalog's migrations and the instances serving from
// it.
type StatusReport struct {
	Migrations []MigrationStatus `json:"migrations"`
	Newer      []int64           `json:"newer,omitempty"`
	Instances  []Instance        `json:"instances"`
	// Jobs is where River's migrations of its schema stand.
	Jobs jobs.Version `json:"jobs"`
}

// MigrateOpts are the options of one Migrator.Migrate run.
type MigrateOpts struct {
	// DryRun computes the plan and changes nothing.
	DryRun bool
	// Contract applies contract migrations too, unless an instance built
	// for an older catalog still heartbeats. Instances of a release before
	// the heartbeat (migration 00008) cannot be seen: setting Contract is
	// the operator's word that none serves.
	Contract bool
}

// MigrateResult is what a Migrator.Migrate run did, or would do.
type MigrateResult struct {
	MigrationPlan
	// Applied are the versions the run applied; empty on a dry run.
	Applied []int64 `json:"applied"`
	// Jobs is where River's migrations of the jobs schema stand: after
	// the run, or on a dry run what it would apply. River's migrations
	// only add (River keeps its own compatibility across versions), so
	// they run with the expand migrations.
	Jobs jobs.Version `json:"jobs"`
	// JobsApplied are River's migrations the run applied.
	JobsApplied []int `json:"jobs_applied"`
}

// MigratorConfig configures a Migrator.
type MigratorConfig struct {
	// DatabaseURL connects to the catalog as its owner. Required.
	DatabaseURL string
	// InstanceTTL is how long after its last heartbeat an instance counts
	// as serving. Defaults to DefaultInstanceTTL.
	InstanceTTL time.Duration
	// fsys holds the migrations. Defaults to the ones embedded in the
	// binary; tests add their own.
	fsys fs.FS
}

func (c *MigratorConfig) validate() error {
	if c.DatabaseURL == "" {
		return errors.New("catalog: MigratorConfig.DatabaseURL is required")
	}
	if c.InstanceTTL < 0 {
		return errors.New("catalog: MigratorConfig.InstanceTTL must not be negative")
	}
	return nil
}

// Migrator plans and applies catalog migrations.
type Migrator struct {
	cfg        MigratorConfig
	migrations []Migration
}

// NewMigrator returns a Migrator. It fails when a migration does not
// declare its phase.
func NewMigrator(cfg MigratorConfig) (*Migrator, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.InstanceTTL == 0 {
		cfg.InstanceTTL = DefaultInstanceTTL
	}
	if cfg.fsys == nil {
		cfg.fsys = embedded()
	}
	ms, err := readMigrations(cfg.fsys)
	if err != nil {
		return nil, err
	}
	return &Migrator{cfg: cfg, migrations: ms}, nil
}

// Migrate brings the catalog at connString up to what this binary needs:
// every expand migration (on a catalog with nothing applied, every
// migration). Contract migrations are left to catalog migrate --contract;
// the code of this release works with or without them. It fails with
// ErrHeldBack when an expand migration waits behind a held-back contract
// migration. It is safe to run from several processes at once: a session
// advisory lock serialises them. It returns the versions it applied.
func Migrate(ctx context.Context, connString string) ([]int64, error) {
	m, err := NewMigrator(MigratorConfig{DatabaseURL: connString})
	if err != nil {
		return nil, err
	}
	res, err := m.Migrate(ctx, MigrateOpts{})
	if err != nil {
		return nil, err
	}
	return res.Applied, res.Blocked()
}

// Blocked returns an error wrapping ErrHeldBack when an expand migration
// is left pending: this binary needs it and cannot serve without it.
// Contract migrations left pending are no error.
func (r *MigrateResult) Blocked() error {
	for _, s := range r.Pending {
		if !s.Apply && s.Phase == PhaseExpand {
			return fmt.Errorf("%w: expand migration %05d %s %s; tenantkit catalog migrate --dry-run says why",
				ErrHeldBack, s.Version, s.Name, s.HeldBack)
		}
	}
	return nil
}

// Migrations returns every catalog migration this binary carries, in
// order.
func Migrations() ([]Migration, error) { return readMigrations(embedded()) }

// SchemaVersion is the newest catalog migration this binary carries.
func SchemaVersion() int64 {
	ms, err := Migrations()
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].Version
}

// Status lists every catalog migration this binary carries and whether it
// is applied. It changes nothing.
func Status(ctx context.Context, connString string) ([]MigrationStatus, error) {
	m, err := NewMigrator(MigratorConfig{DatabaseURL: connString})
	if err != nil {
		return nil, err
	}
	st, err := m.Status(ctx)
	if err != nil {
		return nil, err
	}
	return st.Migrations, nil
}

// Migrate plans the run (see MigrationPlan) and, unless opts.DryRun, applies the
// migrations the plan applies.
func (m *Migrator) Migrate(ctx context.Context, opts MigrateOpts) (*MigrateResult, error) {
	db, err := sql.Open("pgx", m.cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	plan, err := m.plan(ctx, db, opts)
	if err != nil {
		return nil, err
	}
	res := &MigrateResult{MigrationPlan: plan, Applied: []int64{}}
	upTo := int64(0)
	for _, s := range plan.Pending {
		if s.Apply {
			upTo = s.Version
		}
	}
	if opts.DryRun {
		res.Jobs, err = jobs.Status(ctx, m.cfg.DatabaseURL)
		return res, err
	}
	if upTo != 0 {
		p, err := m.provider(ctx, db)
		if err != nil {
			return nil, err
		}
		// The plan was made outside goose's lock: bounding the run by the
		// plan's last version keeps a migration held back out whatever ran
		// in between.
		results, err := p.UpTo(ctx, upTo)
		if err != nil {
			return nil, fmt.Errorf("catalog: migrate: %w", err)
		}
		for _, r := range results {
			res.Applied = append(res.Applied, r.Source.Version)
		}
	}
	if res.JobsApplied, err = jobs.Migrate(ctx, m.cfg.DatabaseURL); err != nil {
		return nil, err
	}
	res.Jobs, err = jobs.Status(ctx, m.cfg.DatabaseURL)
	return res, err
}

// Status lists every catalog migration this binary carries and whether it
// is applied, the applied ones it does not know, and the instances
// serving. It changes nothing.
func (m *Migrator) Status(ctx context.Context) (*StatusReport, error) {
	db, err := sql.Open("pgx", m.cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	applied, err := appliedVersions(ctx, db)
	if err != nil {
		return nil, err
	}
	st := &StatusReport{Migrations: make([]MigrationStatus, 0, len(m.migrations)), Newer: m.newer(applied)}
	for _, mg := range m.migrations {
		st.Migrations = append(st.Migrations, MigrationStatus{Version: mg.Version, Name: mg.Name, Phase: mg.Phase, Applied: applied[mg.Version]})
	}
	if st.Instances, err = m.instances(ctx, len(applied) > 0); err != nil {
		return nil, err
	}
	if st.Jobs, err = jobs.Status(ctx, m.cfg.DatabaseURL); err != nil {
		return nil, err
	}
	return st, nil
}

// plan decides, for each pending migration in order, whether this run
// applies it. Expand migrations are applied; a contract migration is
// applied when the catalog has nothing applied yet, or when opts.Contract
// is set and no instance built for an older catalog heartbeats. The first
// migration held back holds back every later one.
func (m *Migrator) plan(ctx context.Context, db *sql.DB, opts MigrateOpts) (MigrationPlan, error) {
	applied, err := appliedVersions(ctx, db)
	if err != nil {
		return MigrationPlan{}, err
	}
	fresh := len(applied) == 0
	p := MigrationPlan{SchemaVersion: m.migrations[len(m.migrations)-1].Version, Newer: m.newer(applied), Pending: []Step{}}
	for v := range applied {
		p.CatalogVersion = max(p.CatalogVersion, v)
	}
	if p.Instances, err = m.instances(ctx, !fresh); err != nil {
		return MigrationPlan{}, err
	}
	held := int64(0)
	for _, mg := range m.migrations {
		if applied[mg.Version] {
			continue
		}
		s := Step{Migration: mg}
		switch {
		case held != 0:
			s.HeldBack = fmt.Sprintf("waits behind %05d", held)
		case fresh || mg.Phase == PhaseExpand:
			s.Apply = true
		case !opts.Contract:
			s.HeldBack = "a contract migration waits for tenantkit catalog migrate --contract, " +
				"to be run once no instance of an older release serves"
		default:
			s.HeldBack = olderInstance(p.Instances, mg.Version)
			s.Apply = s.HeldBack == ""
		}
		if !s.Apply && held == 0 {
			held = mg.Version
		}
		p.Pending = append(p.Pending, s)
	}
	return p, nil
}

// olderInstance says which serving instance was built for a catalog
// before version, or returns "" when none was.
func olderInstance(instances []Instance, version int64) string {
	for _, in := range instances {
		if in.SchemaVersion < version {
			return fmt.Sprintf("instance %s (%s, pid %d, version %s) serves, built for catalog %05d; it may use what this migration removes",
				in.ID.String()[:8], in.Hostname, in.PID, in.Version, in.SchemaVersion)
		}
	}
	return ""
}

// newer lists the applied versions this binary does not carry.
func (m *Migrator) newer(applied map[int64]bool) []int64 {
	var out []int64
	for v := range applied {
		if !slices.ContainsFunc(m.migrations, func(mg Migration) bool { return mg.Version == v }) {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}

// instances lists the instances serving from the catalog; a catalog
// before migration 00008 has no table of them, and none can be seen.
func (m *Migrator) instances(ctx context.Context, migrated bool) ([]Instance, error) {
	out := []Instance{}
	if !migrated {
		return out, nil
	}
	conn, err := pgx.Connect(ctx, m.cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("catalog: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := catalogdb.New(conn).LiveInstances(ctx, m.cfg.InstanceTTL.Seconds())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "42P01" || pgErr.Code == "3F000") { // undefined_table, invalid_schema_name
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("catalog: list instances: %w", err)
	}
	for _, r := range rows {
		out = append(out, Instance{ID: r.ID, Version: r.Version, SchemaVersion: r.SchemaVersion, Hostname: r.Hostname,
			PID: r.Pid, Addr: r.Addr, StartedAt: r.StartedAt, LastSeen: r.LastSeen})
	}
	return out, nil
}

// appliedVersions reads the applied migrations without creating anything:
// a catalog without the migrations table has none.
func appliedVersions(ctx context.Context, db *sql.DB) (map[int64]bool, error) {
	store, err := newStore()
	if err != nil {
		return nil, err
	}
	applied := map[int64]bool{}
	ext, ok := store.(database.StoreExtender)
	if !ok {
		return nil, errors.New("catalog: goose's store cannot tell whether its table exists")
	}
	exists, err := ext.TableExists(ctx, db)
	if err != nil || !exists {
		return applied, wrapErr("read applied migrations", err)
	}
	list, err := store.ListMigrations(ctx, db)
	if err != nil {
		return nil, wrapErr("read applied migrations", err)
	}
	for _, r := range list {
		if r.IsApplied && r.Version > 0 {
			applied[r.Version] = true
		}
	}
	return applied, nil
}

func wrapErr(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("catalog: %s: %w", what, err)
}

func newStore() (database.Store, error) {
	return database.NewStore(database.DialectPostgres, MigrationsTable)
}

// provider returns a goose provider over db, creating the schema goose
// keeps its table in.
func (m *Migrator) provider(ctx context.Context, db *sql.DB) (*goose.Provider, error) {
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS tenantkit"); err != nil {
		return nil, fmt.Errorf("catalog: create schema: %w", err)
	}
	store, err := newStore()
	if err != nil {
		return nil, err
	}
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, err
	}
	return goose.NewProvider("", db, m.cfg.fsys, goose.WithStore(store), goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true))
}

func embedded() fs.FS {
	sub, _ := fs.Sub(migrationFS, "migrations")
	return sub
}

// readMigrations reads every *.sql migration of fsys, in version order.
func readMigrations(fsys fs.FS) ([]Migration, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	out := make([]Migration, 0, len(names))
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		mg, err := parseMigration(name, string(b))
		if err != nil {
			return nil, err
		}
		out = append(out, mg)
	}
	if len(out) == 0 {
		return nil, errors.New("catalog: no migrations")
	}
	slices.SortFunc(out, func(a, b Migration) int { return cmp.Compare(a.Version, b.Version) })
	return out, nil
}

// parseMigration reads a migration file: its version from the name, its
// phase from the tenantkit:phase line, which must come once, before the up
// section, and its up section.
func parseMigration(name, text string) (Migration, error) {
	v, err := goose.NumericComponent(name)
	if err != nil {
		return Migration{}, fmt.Errorf("catalog: migration %s: %w", name, err)
	}
	mg := Migration{Version: v, Name: path.Base(name)}
	var up strings.Builder
	section := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, phaseDirective):
			if section != "" || mg.Phase != "" {
				return Migration{}, fmt.Errorf("catalog: migration %s: %q must come once, before -- +goose Up", name, strings.TrimSpace(phaseDirective))
			}
			mg.Phase = Phase(strings.TrimSpace(strings.TrimPrefix(trimmed, phaseDirective)))
			if mg.Phase != PhaseExpand && mg.Phase != PhaseContract {
				return Migration{}, fmt.Errorf("catalog: migration %s: phase %q is neither expand nor contract", name, mg.Phase)
			}
		case strings.HasPrefix(trimmed, "-- +goose Up"):
			section = "up"
		case strings.HasPrefix(trimmed, "-- +goose Down"):
			section = "down"
		case strings.HasPrefix(trimmed, "-- +goose "):
		case section == "up":
			up.WriteString(line)
			up.WriteByte('\n')
		}
	}
	if err := sc.Err(); err != nil {
		return Migration{}, fmt.Errorf("catalog: migration %s: %w", name, err)
	}
	if mg.Phase == "" {
		return Migration{}, fmt.Errorf("catalog: migration %s declares no phase: add a line %q or %q before -- +goose Up",
			name, phaseDirective+string(PhaseExpand), phaseDirective+string(PhaseContract))
	}
	mg.SQL = strings.TrimSpace(up.String())
	return mg, nil
}

// HeartbeatConfig configures a Heartbeat.
type HeartbeatConfig struct {
	// Pool connects to the catalog. Required.
	Pool *pgxpool.Pool
	// Version is the binary's version, for people. Defaults to "unknown".
	Version string
	// Addr is the address the instance serves on. Defaults to "".
	Addr string
	// Interval is the time between heartbeats. Defaults to
	// DefaultHeartbeatInterval.
	Interval time.Duration
	// TTL is how long after its last heartbeat an instance's row is
	// deleted. Defaults to DefaultInstanceTTL.
	TTL time.Duration
	// Logger gets the heartbeats that failed. Defaults to discarding.
	Logger *slog.Logger
}

// Heartbeat records a serving instance in tenantkit.instances, so that
// catalog migrate holds back the contract migrations that would break it.
type Heartbeat struct {
	cfg  HeartbeatConfig
	q    *catalogdb.Queries
	beat catalogdb.BeatInstanceParams
}

// NewHeartbeat returns a Heartbeat for this process.
func NewHeartbeat(cfg HeartbeatConfig) (*Heartbeat, error) {
	if cfg.Pool == nil {
		return nil, errors.New("catalog: HeartbeatConfig.Pool is required")
	}
	if cfg.Version == "" {
		cfg.Version = "unknown"
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultHeartbeatInterval
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultInstanceTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	host, _ := os.Hostname()
	return &Heartbeat{cfg: cfg, q: catalogdb.New(cfg.Pool), beat: catalogdb.BeatInstanceParams{
		ID: uuid.New(), Version: cfg.Version, SchemaVersion: SchemaVersion(), Hostname: host,
		Pid: int32(os.Getpid()), Addr: cfg.Addr,
	}}, nil
}

// ID identifies this instance's row.
func (h *Heartbeat) ID() uuid.UUID { return h.beat.ID }

// Beat records that the instance is alive now and deletes the rows of
// instances not seen for the TTL.
func (h *Heartbeat) Beat(ctx context.Context) error {
	if err := h.q.BeatInstance(ctx, h.beat); err != nil {
		return fmt.Errorf("catalog: heartbeat: %w", err)
	}
	if _, err := h.q.ExpireInstances(ctx, h.cfg.TTL.Seconds()); err != nil {
		return fmt.Errorf("catalog: expire instances: %w", err)
	}
	return nil
}

// Run beats every Interval until ctx is done. A failed beat is logged and
// retried at the next one: the instance keeps serving.
func (h *Heartbeat) Run(ctx context.Context) error {
	t := time.NewTicker(h.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := h.Beat(ctx); err != nil && ctx.Err() == nil {
				h.cfg.Logger.Warn("instance heartbeat failed", "err", err)
			}
		}
	}
}

// Remove deletes the instance's row, once it has stopped serving.
func (h *Heartbeat) Remove(ctx context.Context) error {
	return wrapErr("remove instance", h.q.RemoveInstance(ctx, h.beat.ID))
}

var _ = stdlib.GetDefaultDriver // registers the "pgx" database/sql driver

// Statements splits a migration's SQL into its statements, each on one
// line: comments dropped, runs of white space made one space, the body of
// a dollar-quoted string (a function's) shown as $$…$$. String literals
// are kept as written.
func Statements(sqlText string) []string {
	var out []string
	var b strings.Builder
	flush := func() {
		if s := strings.Join(strings.Fields(b.String()), " "); s != "" {
			out = append(out, s)
		}
		b.Reset()
	}
	for i := 0; i < len(sqlText); i++ {
		c := sqlText[i]
		switch {
		case strings.HasPrefix(sqlText[i:], "--"):
			end := strings.IndexByte(sqlText[i:], '\n')
			if end < 0 {
				end = len(sqlText) - i - 1
			}
			i += end
			b.WriteByte(' ')
		case strings.HasPrefix(sqlText[i:], "/*"):
			end := strings.Index(sqlText[i+2:], "*/")
			if end < 0 {
				end = len(sqlText) - i - 2
			}
			i += end + 3
			b.WriteByte(' ')
		case c == '\'':
			j := i + 1
			for j < len(sqlText) && (sqlText[j] != '\'' || strings.HasPrefix(sqlText[j:], "''")) {
				if sqlText[j] == '\'' {
					j++
				}
				j++
			}
			b.WriteString(sqlText[i:min(j+1, len(sqlText))])
			i = j
		case c == '$':
			if tag, ok := dollarTag(sqlText[i:]); ok {
				end := strings.Index(sqlText[i+len(tag):], tag)
				if end < 0 {
					end = len(sqlText) - i - len(tag)
				}
				b.WriteString(tag + "…" + tag)
				i += len(tag) + end + len(tag) - 1
				continue
			}
			b.WriteByte(c)
		case c == ';':
			flush()
		default:
			b.WriteByte(c)
		}
	}
	flush()
	return out
}

// dollarTag returns the opening tag of a dollar-quoted string at the start
// of s: $$ or $name$.
func dollarTag(s string) (string, bool) {
	for j := 1; j < len(s); j++ {
		c := s[j]
		switch {
		case c == '$':
			return s[:j+1], true
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || j > 1 && c >= '0' && c <= '9':
		default:
			return "", false
		}
	}
	return "", false
}
