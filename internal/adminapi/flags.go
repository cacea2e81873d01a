package adminapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"

	"github.com/tenantkit/tenantkit/internal/catalog"
)

// flagPatch is the body of PATCH /api/v1/flags/{key}: the flag's params
// without its key, which the path gives. An empty min_plan removes the
// plan gate.
type flagPatch struct {
	Description *string `json:"description,omitempty"`
	KillSwitch  *bool   `json:"kill_switch,omitempty"`
	Default     *bool   `json:"default,omitempty"`
	Rollout     *int    `json:"rollout,omitempty"`
	MinPlan     *string `json:"min_plan,omitempty"`
	Seed        *string `json:"seed,omitempty"`
}

func (a *API) listFlags(w http.ResponseWriter, r *http.Request) {
	fs, err := a.store.ListFlags(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"flags": fs})
}

func (a *API) createFlag(w http.ResponseWriter, r *http.Request) {
	var p catalog.FlagParams
	if !a.decode(w, r, &p) {
		return
	}
	f, err := a.store.CreateFlag(r.Context(), actor(r), p)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/flags/"+url.PathEscape(f.Key))
	writeJSON(w, http.StatusCreated, f)
}

func (a *API) getFlag(w http.ResponseWriter, r *http.Request) {
	f, err := a.store.GetFlag(r.Context(), r.PathValue("key"))
	a.respond(w, r, f, err)
}

func (a *API) updateFlag(w http.ResponseWriter, r *http.Request) {
	var p flagPatch
	if !a.decode(w, r, &p) {
		return
	}
	f, err := a.store.UpdateFlag(r.Context(), actor(r), catalog.FlagParams{
		Key: r.PathValue("key"), Description: p.Description, KillSwitch: p.KillSwitch,
		Default: p.Default, Rollout: p.Rollout, MinPlan: p.MinPlan, Seed: p.Seed,
	})
	a.respond(w, r, f, err)
}

func (a *API) deleteFlag(w http.ResponseWriter, r *http.Request) {
	if err := a.store.DeleteFlag(r.Context(), actor(r), r.PathValue("key")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// setFlagOverride gives one tenant its own value of a flag.
func (a *API) setFlagOverride(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Value *bool `json:"value"`
	}
	if !a.decode(w, r, &body) {
		return
	}
	if body.Value == nil {
		a.fail(w, r, &catalog.ValidationError{Fields: []catalog.FieldError{{Field: "value", Message: "is required: true or false (DELETE removes the override)"}}})
		return
	}
	f, err := a.store.SetFlagOverride(r.Context(), actor(r), r.PathValue("key"), r.PathValue("tenant"), body.Value)
	a.respond(w, r, f, err)
}

// clearFlagOverride removes a tenant's override: the flag's rules decide
// for it again.
func (a *API) clearFlagOverride(w http.ResponseWriter, r *http.Request) {
	f, err := a.store.SetFlagOverride(r.Context(), actor(r), r.PathValue("key"), r.PathValue("tenant"), nil)
	a.respond(w, r, f, err)
}

// AuditEntry is an audit record as the API shows it: before and after as
// JSON, not bytes.
type AuditEntry struct {
	ID     int64           `json:"id"`
	At     time.Time       `json:"at"`
	Actor  string          `json:"actor"`
	Action string          `json:"action"`
	Before json.RawMessage `json:"before"`
	After  json.RawMessage `json:"after"`
}

// AuditView converts the catalog's audit records.
func AuditView(es []catalog.AuditEntry) []AuditEntry {
	out := make([]AuditEntry, len(es))
	for i, e := range es {
		out[i] = AuditEntry{ID: e.ID, At: e.At, Actor: e.Actor, Action: e.Action, Before: rawOrNull(e.Before), After: rawOrNull(e.After)}
	}
	return out
}

func rawOrNull(b []byte) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("null")
	}
	return json.RawMessage(b)
}

// FlagAudit returns the audit log of a flag, oldest first. A key that
// never named a flag is ErrFlagNotFound; a deleted flag keeps its log.
func FlagAudit(ctx context.Context, s *catalog.Store, key string) ([]AuditEntry, error) {
	es, err := s.FlagAudit(ctx, key)
	if err != nil {
		return nil, err
	}
	if len(es) == 0 {
		if _, err := s.GetFlag(ctx, key); err != nil {
			return nil, err
		}
	}
	return AuditView(es), nil
}

func (a *API) flagAudit(w http.ResponseWriter, r *http.Request) {
	es, err := FlagAudit(r.Context(), a.store, r.PathValue("key"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"audit": es})
}
