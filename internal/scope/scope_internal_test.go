package scope

import (
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// TestSetupArgumentsFollowTheShape: each shape's boxed arguments carry the
// reset flag and which of the isolation level and access mode the caller
// chose, so that the reset checks exactly the others.
func TestSetupArgumentsFollowTheShape(t *testing.T) {
	target := NewTarget(uuid.New(), 7, `we"ird`)
	tests := []struct {
		reset                bool
		opts                 pgx.TxOptions
		wantReset, iso, mode bool
	}{
		{false, pgx.TxOptions{}, false, false, false},
		{false, pgx.TxOptions{IsoLevel: pgx.Serializable}, false, true, false},
		{true, pgx.TxOptions{}, true, false, false},
		{true, pgx.TxOptions{AccessMode: pgx.ReadOnly}, true, false, true},
		{true, pgx.TxOptions{IsoLevel: pgx.RepeatableRead}, true, true, false},
		{true, pgx.TxOptions{IsoLevel: pgx.Serializable, AccessMode: pgx.ReadWrite}, true, true, true},
	}
	for _, tt := range tests {
		args := target.checked.Load().setup[shape(tt.reset, tt.opts)]
		if args[3] != tt.wantReset || args[4] != tt.iso || args[5] != tt.mode {
			t.Errorf("shape(%v, %+v) gives reset=%v isolation=%v access=%v", tt.reset, tt.opts, args[3], args[4], args[5])
		}
		if args[2] != `"we""ird", pg_temp` || args[1] != int64(7) || args[6] != int64(notChecked) {
			t.Errorf("search_path %v, epoch %v, counter %v", args[2], args[1], args[6])
		}
	}
	// enterSQL's: the tenant, the epoch, the search_path, the counter; and
	// a counter learned moves into both.
	target.learn([]byte("12"), pgx.TextFormatCode)
	c := target.checked.Load()
	if e := c.enter; len(e) != 4 || e[0] != target.Tenant.String() || e[1] != int64(7) || e[2] != `"we""ird", pg_temp` || e[3] != int64(12) {
		t.Errorf("enter arguments %v", e)
	}
	if c.setup[0][6] != int64(12) {
		t.Errorf("setup counter %v after learning 12", c.setup[0][6])
	}
}

// TestStatementCacheEvictsTheLeastRecentlyUsed: a full cache gives up the
// statement used longest ago, and a use moves a statement to the front.
func TestStatementCacheEvictsTheLeastRecentlyUsed(t *testing.T) {
	c := stmtCache{max: 3}
	for _, sql := range []string{"a", "b", "c"} {
		if _, ok := c.evict(); ok {
			t.Fatalf("evicted from a cache of %d", c.order.Len())
		}
		c.put(sql, c.name())
	}
	if _, ok := c.get("a"); !ok {
		t.Fatal("a is not cached")
	}
	name, ok := c.evict()
	if !ok || name != "tenantkit_2" {
		t.Fatalf("evicted %q, %v; want b's statement tenantkit_2", name, ok)
	}
	if _, ok := c.get("b"); ok {
		t.Fatal("b is still cached after its eviction")
	}
	c.remove("a")
	if c.order.Len() != 1 || len(c.byKey) != 1 {
		t.Fatalf("after removing a: %d in order, %d by key", c.order.Len(), len(c.byKey))
	}
}

// TestBindingArgumentsAreText: the binding pipeline sends its parameters
// in text form — the tenant, the search_path (the quoted schema, then
// pg_temp), the reset flag, and for the fence check the epoch.
func TestBindingArgumentsAreText(t *testing.T) {
	id := uuid.New()
	target := NewTarget(id, 42, `we"ird`)
	for i, reset := range []string{"f", "t"} {
		args := target.bind[i]
		if string(args[0]) != id.String() || string(args[1]) != `"we""ird", pg_temp` || string(args[2]) != reset {
			t.Errorf("bind[%d] = %q", i, args)
		}
	}
	if f := target.bindFence; string(f[0]) != id.String() || string(f[1]) != "42" {
		t.Errorf("bindFence = %q", f)
	}
}

// TestSearchPathIsWrittenAsPostgreSQLWritesIt: a plain schema name goes
// bare, as PostgreSQL writes a role's default search_path; anything else
// quoted. pg_temp comes last either way.
func TestSearchPathIsWrittenAsPostgreSQLWritesIt(t *testing.T) {
	for schema, want := range map[string]string{
		"app":               "app, pg_temp",
		"t_80775e55eb12_01": "t_80775e55eb12_01, pg_temp",
		"_x":                "_x, pg_temp",
		"App":               `"App", pg_temp`,
		"1st":               `"1st", pg_temp`,
		"with space":        `"with space", pg_temp`,
		`we"ird`:            `"we""ird", pg_temp`,
		"":                  `"", pg_temp`,
	} {
		if got := searchPath(schema); got != want {
			t.Errorf("searchPath(%q) = %q, want %q", schema, got, want)
		}
	}
}
