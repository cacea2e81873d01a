package adminapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/internal/adminapi"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/move"
)

// placeReady registers clusters c1 and c2 (records only: nothing connects
// to them) and places each tenant, created on the way, ready on tier on c1.
func (b *bundle) placeReady(t *testing.T, tiers map[string]string) map[string]catalog.Tenant {
	t.Helper()
	ctx := context.Background()
	for _, name := range []string{"c1", "c2"} {
		if _, err := b.store.AddCluster(ctx, "test", catalog.ClusterParams{Name: name,
			OwnerURL: "postgres://tenantkit_owner:" + ownerPW + "@" + name + ".invalid/postgres",
			AppURL:   "postgres://tenantkit_app:" + appPW + "@" + name + ".invalid/postgres"}); err != nil {
			t.Fatal(err)
		}
	}
	out := map[string]catalog.Tenant{}
	for slug, tier := range tiers {
		// Through the store: the API would provision the data.
		tn, err := b.store.CreateTenant(ctx, "test", catalog.CreateParams{Slug: slug, Name: "Tenant " + slug})
		if err != nil {
			t.Fatal(err)
		}
		out[slug] = tn
		if _, err := b.store.EnsurePlacement(ctx, "test", slug, tier, "c1"); err != nil {
			t.Fatal(err)
		}
		if _, err := b.store.SetPlacementState(ctx, "test", slug, catalog.PlacementReady); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// movesState digests the moves and the audit log: a refused request must
// leave both as they were.
func (b *bundle) movesState(t *testing.T) string {
	t.Helper()
	var s string
	err := b.pool.QueryRow(context.Background(), `SELECT
		coalesce((SELECT string_agg(m::text, '|' ORDER BY m.id) FROM tenantkit.moves m), '') || '#' ||
		(SELECT count(*) FROM tenantkit.audit_log)`).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (b *bundle) movesUnchanged(t *testing.T, what string, fn func()) {
	t.Helper()
	before := b.movesState(t)
	fn()
	if after := b.movesState(t); after != before {
		t.Fatalf("%s: moves or audit log changed from\n%s\nto\n%s", what, before, after)
	}
}

// setMove changes a move's row as a runner would.
func (b *bundle) setMove(t *testing.T, id uuid.UUID, set string, args ...any) {
	t.Helper()
	if _, err := b.pool.Exec(context.Background(), "UPDATE tenantkit.moves SET "+set+" WHERE id = $1", append([]any{id}, args...)...); err != nil {
		t.Fatal(err)
	}
}

func TestCreateMove(t *testing.T) {
	t.Parallel()
	b := setup(t, withProvisioner(t))
	tenants := b.placeReady(t, map[string]string{"acme": catalog.TierShared, "globex": catalog.TierSchema})
	acme := tenants["acme"]

	w := b.do(t, "POST", "/api/v1/tenants/acme/moves", `{"tier":"dedicated","cluster":"c2"}`)
	m := decode[catalog.Move](t, w, http.StatusAccepted)
	wantDB, wantSchema, _ := catalog.Location(catalog.TierDedicated, acme.ID, "")
	if m.ID == uuid.Nil || m.TenantID != acme.ID || m.Slug != "acme" || m.State != catalog.MovePending ||
		m.SourceTier != catalog.TierShared || m.SourceCluster != "c1" || m.SourceEpoch != 1 ||
		m.TargetTier != catalog.TierDedicated || m.TargetCluster != "c2" || m.TargetDatabase != wantDB || m.TargetSchema != wantSchema ||
		m.RequestedBy != "api" || m.CancelRequested || m.RollbackRequested || m.LastError != "" {
		t.Fatalf("created %s", w.Body)
	}
	if loc := w.Header().Get("Location"); loc != "/api/v1/moves/"+m.ID.String() {
		t.Fatalf("Location %q", loc)
	}
	// progress and timings are JSON objects, not strings.
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(w.Body.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"progress", "timings"} {
		if string(raw[k]) != "{}" {
			t.Fatalf("%s of a new move is %s, want {}", k, raw[k])
		}
	}
	requireNoPasswords(t, "POST moves", w.Body.String())
	got := decode[catalog.Move](t, b.do(t, "GET", w.Header().Get("Location"), ""), http.StatusOK)
	if got.ID != m.ID || got.State != m.State || got.TargetDatabase != m.TargetDatabase || got.Slug != "acme" {
		t.Fatalf("GET Location: %+v", got)
	}
	// The cluster defaults to the tenant's own.
	w = b.do(t, "POST", "/api/v1/tenants/"+tenants["globex"].ID.String()+"/moves", `{"tier":"shared"}`,
		"X-Tenantkit-Actor", "ops-alice")
	g := decode[catalog.Move](t, w, http.StatusAccepted)
	if g.TargetCluster != "c1" || g.TargetTier != catalog.TierShared || g.Slug != "globex" || g.RequestedBy != "api:ops-alice" {
		t.Fatalf("globex: %s", w.Body)
	}
	var audited int
	if err := b.pool.QueryRow(context.Background(), "SELECT count(*) FROM tenantkit.audit_log WHERE action = 'move.create'").Scan(&audited); err != nil || audited != 2 {
		t.Fatalf("move.create audited %d times (%v), want 2", audited, err)
	}
}

func TestCreateMoveProblems(t *testing.T) {
	t.Parallel()
	b := setup(t, withProvisioner(t))
	b.placeReady(t, map[string]string{"acme": catalog.TierShared, "globex": catalog.TierSchema, "umbrella": catalog.TierShared})
	ctx := context.Background()
	if _, err := b.store.CreateTenant(ctx, "test", catalog.CreateParams{Slug: "initech", Name: "Initech"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.DeleteTenant(ctx, "test", "umbrella"); err != nil {
		t.Fatal(err)
	}
	decode[catalog.Move](t, b.do(t, "POST", "/api/v1/tenants/acme/moves", `{"tier":"schema"}`), http.StatusAccepted)

	cases := []struct {
		name, path, body string
		status           int
		kind             string
	}{
		{"moving already", "/api/v1/tenants/acme/moves", `{"tier":"dedicated"}`, http.StatusConflict, "move-in-progress"},
		{"same placement", "/api/v1/tenants/globex/moves", `{"tier":"schema","cluster":"c1"}`, http.StatusConflict, "same-placement"},
		{"unknown cluster", "/api/v1/tenants/globex/moves", `{"tier":"schema","cluster":"nosuch"}`, http.StatusNotFound, "cluster-not-found"},
		{"unknown tenant", "/api/v1/tenants/nosuch/moves", `{"tier":"schema"}`, http.StatusNotFound, "tenant-not-found"},
		{"unplaced tenant", "/api/v1/tenants/initech/moves", `{"tier":"schema"}`, http.StatusNotFound, "not-placed"},
		{"deleted tenant", "/api/v1/tenants/umbrella/moves", `{"tier":"schema"}`, http.StatusConflict, "tenant-deleted"},
		{"unknown field", "/api/v1/tenants/globex/moves", `{"tier":"shared","epoch":3}`, http.StatusBadRequest, "malformed-json"},
		{"no body", "/api/v1/tenants/globex/moves", ``, http.StatusBadRequest, "malformed-json"},
		{"not an object", "/api/v1/tenants/globex/moves", `"shared"`, http.StatusBadRequest, "malformed-json"},
	}
	for _, c := range cases {
		b.movesUnchanged(t, c.name, func() {
			wantProblem(t, b.do(t, "POST", c.path, c.body), c.status, c.kind)
		})
	}
	for _, body := range []string{`{"tier":"gold"}`, `{}`, `{"tier":3}`} {
		b.movesUnchanged(t, body, func() {
			wantFields(t, b.do(t, "POST", "/api/v1/tenants/globex/moves", body), "tier")
		})
	}
	// The detail of a same-placement problem says where the tenant is.
	w := b.do(t, "POST", "/api/v1/tenants/globex/moves", `{"tier":"schema"}`)
	if p := wantProblem(t, w, http.StatusConflict, "same-placement"); !strings.Contains(p.Detail, `"globex" is on c1/`) || strings.Contains(p.Detail, "catalog:") {
		t.Fatalf("same-placement detail %q", p.Detail)
	}
	// A placement still being provisioned cannot move.
	if _, err := b.store.SetPlacementState(ctx, "test", "globex", catalog.PlacementProvisioning); err != nil {
		t.Fatal(err)
	}
	b.movesUnchanged(t, "provisioning", func() {
		wantProblem(t, b.do(t, "POST", "/api/v1/tenants/globex/moves", `{"tier":"dedicated"}`), http.StatusConflict, "move-state")
	})
}

func TestCreateMoveNeedsAProvisioner(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.placeReady(t, map[string]string{"acme": catalog.TierShared})
	b.movesUnchanged(t, "no provisioner", func() {
		wantProblem(t, b.do(t, "POST", "/api/v1/tenants/acme/moves", `{"tier":"schema"}`), http.StatusNotImplemented, "not-implemented")
	})
}

func TestGetAndListMoves(t *testing.T) {
	t.Parallel()
	b := setup(t, withProvisioner(t))
	b.placeReady(t, map[string]string{"acme": catalog.TierShared, "globex": catalog.TierSchema})
	first := decode[catalog.Move](t, b.do(t, "POST", "/api/v1/tenants/acme/moves", `{"tier":"schema"}`), http.StatusAccepted)
	b.setMove(t, first.ID, "state = 'failed', finished_at = now(), created_at = created_at - interval '1 hour'")
	second := decode[catalog.Move](t, b.do(t, "POST", "/api/v1/tenants/acme/moves", `{"tier":"dedicated"}`), http.StatusAccepted)
	third := decode[catalog.Move](t, b.do(t, "POST", "/api/v1/tenants/globex/moves", `{"tier":"shared"}`), http.StatusAccepted)

	// A runner's progress is served as the move package wrote it.
	want := move.Progress{
		Tables:     []move.TableProgress{{Name: "orders", RowsTotal: 5000, RowsCopied: 1200, Bytes: 65536}, {Name: "customers", RowsTotal: 10, RowsCopied: 10, Bytes: 900, Done: true}},
		AppliedLSN: "0/16B3748", SourceLSN: "0/16B3800", LagBytes: 184, LagSeconds: 0.25, Changes: 42,
		Verified:    []move.TableCheck{{Name: "customers", SourceRows: 10, TargetRows: 10, SourceHash: "ab", TargetHash: "ab", Match: true}},
		PauseMillis: 12.5, CutoverAttempts: 1,
	}
	pj, _ := json.Marshal(want)
	b.setMove(t, second.ID, `state = 'copying', phase = 'copying orders', progress = $2, timings = $3,
		last_error = $4`, pj, `{"preparing":{"started":"2026-01-02T03:04:05Z","ended":"2026-01-02T03:04:06Z"}}`,
		"connect to postgres://tenantkit_owner:"+ownerPW+"@c1.invalid/x failed; retried with password="+appPW)

	w := b.do(t, "GET", "/api/v1/moves/"+second.ID.String(), "")
	requireNoPasswords(t, "GET move", w.Body.String())
	got := decode[struct {
		catalog.Move
		Progress move.Progress                `json:"progress"`
		Timings  map[string]map[string]string `json:"timings"`
	}](t, w, http.StatusOK)
	if got.State != catalog.MoveCopying || got.Phase != "copying orders" || got.Slug != "acme" {
		t.Fatalf("GET move: %s", w.Body)
	}
	if gj, _ := json.Marshal(got.Progress); string(gj) != string(pj) {
		t.Fatalf("progress\n got %s\nwant %s", gj, pj)
	}
	if got.Timings["preparing"]["ended"] != "2026-01-02T03:04:06Z" {
		t.Fatalf("timings %v", got.Timings)
	}
	if !strings.Contains(got.LastError, "postgres://tenantkit_owner:xxxxx@c1.invalid/x") || !strings.Contains(got.LastError, "password=xxxxx") {
		t.Fatalf("last_error %q", got.LastError)
	}

	list := func(query string) []uuid.UUID {
		t.Helper()
		w := b.do(t, "GET", "/api/v1/moves"+query, "")
		requireNoPasswords(t, "GET moves", w.Body.String())
		var ids []uuid.UUID
		for _, m := range decode[struct {
			Moves []catalog.Move `json:"moves"`
		}](t, w, http.StatusOK).Moves {
			ids = append(ids, m.ID)
		}
		return ids
	}
	for _, c := range []struct {
		query string
		want  []uuid.UUID
	}{
		{"", []uuid.UUID{third.ID, second.ID, first.ID}},
		{"?tenant=acme", []uuid.UUID{second.ID, first.ID}},
		{"?tenant=" + third.TenantID.String(), []uuid.UUID{third.ID}},
		{"?tenant=acme&limit=1", []uuid.UUID{second.ID}},
		{"?limit=2", []uuid.UUID{third.ID, second.ID}},
	} {
		if got := list(c.query); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Fatalf("GET /api/v1/moves%s: %v, want %v", c.query, got, c.want)
		}
	}
	wantProblem(t, b.do(t, "GET", "/api/v1/moves?tenant=nosuch", ""), http.StatusNotFound, "tenant-not-found")
	for _, q := range []string{"0", "501", "x", "-1"} {
		wantFields(t, b.do(t, "GET", "/api/v1/moves?limit="+q, ""), "limit")
	}
	for _, id := range []string{uuid.NewString(), "not-a-uuid", "acme"} {
		wantProblem(t, b.do(t, "GET", "/api/v1/moves/"+id, ""), http.StatusNotFound, "move-not-found")
	}
}

func TestCancelAndRollbackMove(t *testing.T) {
	t.Parallel()
	b := setup(t, withProvisioner(t))
	b.placeReady(t, map[string]string{"acme": catalog.TierShared, "globex": catalog.TierSchema})
	m := decode[catalog.Move](t, b.do(t, "POST", "/api/v1/tenants/acme/moves", `{"tier":"schema"}`), http.StatusAccepted)

	// A pending move cannot be rolled back: it has not cut over.
	b.movesUnchanged(t, "rollback pending", func() {
		p := wantProblem(t, b.do(t, "POST", "/api/v1/moves/"+m.ID.String()+"/rollback", ""), http.StatusConflict, "move-state")
		if !strings.Contains(p.Detail, "is pending") {
			t.Fatalf("detail %q", p.Detail)
		}
	})
	w := b.do(t, "POST", "/api/v1/moves/"+m.ID.String()+"/cancel", "")
	c := decode[catalog.Move](t, w, http.StatusAccepted)
	if c.ID != m.ID || !c.CancelRequested || c.RollbackRequested || c.State != catalog.MovePending || c.Slug != "acme" {
		t.Fatalf("cancel: %s", w.Body)
	}
	if got := decode[catalog.Move](t, b.do(t, "GET", "/api/v1/moves/"+m.ID.String(), ""), http.StatusOK); !got.CancelRequested {
		t.Fatalf("cancel not recorded: %+v", got)
	}
	// A finished move can be neither cancelled nor, once failed, rolled back.
	b.setMove(t, m.ID, "state = 'failed', finished_at = now()")
	for _, action := range []string{"cancel", "rollback"} {
		b.movesUnchanged(t, action+" failed", func() {
			wantProblem(t, b.do(t, "POST", "/api/v1/moves/"+m.ID.String()+"/"+action, ""), http.StatusConflict, "move-state")
		})
	}

	// A complete move inside its confidence period rolls back.
	g := decode[catalog.Move](t, b.do(t, "POST", "/api/v1/tenants/globex/moves", `{"tier":"dedicated"}`), http.StatusAccepted)
	b.setMove(t, g.ID, "state = 'complete', cutover_at = now(), finished_at = now(), retain_until = now() + interval '1 hour'")
	b.movesUnchanged(t, "cancel complete", func() {
		wantProblem(t, b.do(t, "POST", "/api/v1/moves/"+g.ID.String()+"/cancel", ""), http.StatusConflict, "move-state")
	})
	w = b.do(t, "POST", "/api/v1/moves/"+g.ID.String()+"/rollback", "", "X-Tenantkit-Actor", "ops-bob")
	r := decode[catalog.Move](t, w, http.StatusAccepted)
	if !r.RollbackRequested || r.State != catalog.MoveComplete || r.CancelRequested {
		t.Fatalf("rollback: %s", w.Body)
	}
	var actors string
	if err := b.pool.QueryRow(context.Background(), `SELECT string_agg(action || ' by ' || actor, ', ' ORDER BY id)
		FROM tenantkit.audit_log WHERE action IN ('move.cancel', 'move.rollback')`).Scan(&actors); err != nil {
		t.Fatal(err)
	}
	if actors != "move.cancel by api, move.rollback by api:ops-bob" {
		t.Fatalf("audited %q", actors)
	}
	// Past its confidence period, it does not.
	b.setMove(t, g.ID, "rollback_requested = false, retain_until = now() - interval '1 second'")
	b.movesUnchanged(t, "rollback after retention", func() {
		wantProblem(t, b.do(t, "POST", "/api/v1/moves/"+g.ID.String()+"/rollback", ""), http.StatusConflict, "move-state")
	})
	for _, action := range []string{"cancel", "rollback"} {
		for _, id := range []string{uuid.NewString(), "nope"} {
			b.movesUnchanged(t, action+" "+id, func() {
				wantProblem(t, b.do(t, "POST", "/api/v1/moves/"+id+"/"+action, ""), http.StatusNotFound, "move-not-found")
			})
		}
	}
}

func TestMoveRoutesNeedTheToken(t *testing.T) {
	t.Parallel()
	b := setup(t, withProvisioner(t))
	b.placeReady(t, map[string]string{"acme": catalog.TierShared})
	m := decode[catalog.Move](t, b.do(t, "POST", "/api/v1/tenants/acme/moves", `{"tier":"schema"}`), http.StatusAccepted)
	id := m.ID.String()
	for _, rt := range []struct{ method, path, body string }{
		{"POST", "/api/v1/tenants/acme/moves", `{"tier":"dedicated"}`},
		{"GET", "/api/v1/moves", ""},
		{"GET", "/api/v1/moves/" + id, ""},
		{"POST", "/api/v1/moves/" + id + "/cancel", ""},
		{"POST", "/api/v1/moves/" + id + "/rollback", ""},
	} {
		b.movesUnchanged(t, rt.method+" "+rt.path, func() {
			w := b.do(t, rt.method, rt.path, rt.body, "Authorization", "")
			wantProblem(t, w, http.StatusUnauthorized, "unauthorized")
			if strings.Contains(w.Body.String(), "pending") || strings.Contains(w.Body.String(), "acme\"") {
				t.Fatalf("401 shows the move: %s", w.Body)
			}
		})
	}
	for _, c := range []struct{ method, path, allow string }{
		{"GET", "/api/v1/tenants/acme/moves", "POST"},
		{"POST", "/api/v1/moves", "GET"},
		{"DELETE", "/api/v1/moves/" + id, "GET"},
		{"GET", "/api/v1/moves/" + id + "/cancel", "POST"},
		{"PUT", "/api/v1/moves/" + id + "/rollback", "POST"},
	} {
		b.movesUnchanged(t, c.method+" "+c.path, func() {
			w := b.do(t, c.method, c.path, "")
			wantProblem(t, w, http.StatusMethodNotAllowed, "method-not-allowed")
			if got := w.Header().Get("Allow"); got != c.allow {
				t.Fatalf("%s %s: Allow %q, want %q", c.method, c.path, got, c.allow)
			}
		})
	}
}

func TestRedactText(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"plain failure", "plain failure"},
		{"dial postgres://u:s3cret@h:5432/db: refused", "dial postgres://u:xxxxx@h:5432/db: refused"},
		{"postgresql://u:p%40ss@h/db and postgres://v@h/db", "postgresql://u:xxxxx@h/db and postgres://v@h/db"},
		{"host=h user=u password=s3cret dbname=d", "host=h user=u password=xxxxx dbname=d"},
		{"postgres://u@h/db?password=s3cret&sslmode=require", "postgres://u@h/db?password=xxxxx&sslmode=require"},
		{"password = 'two words'", "password = xxxxx"},
	} {
		if got := adminapi.RedactText(c.in); got != c.want {
			t.Errorf("RedactText(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
