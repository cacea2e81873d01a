package client_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/tenantkit/tenantkit/client"
	"github.com/tenantkit/tenantkit/internal/adminapi"
	"github.com/tenantkit/tenantkit/internal/settings"
)

// withRestaurantSchema validates settings against the restaurant demo's
// schema.
func withRestaurantSchema(t *testing.T) func(*adminapi.Config) {
	return func(c *adminapi.Config) {
		schema, err := settings.Compile(settings.RestaurantSchema())
		if err != nil {
			t.Fatal(err)
		}
		c.SettingsSchema = schema
	}
}

func TestSettingsRoundTripWithIfVersion(t *testing.T) {
	t.Parallel()
	b := setup(t, withRestaurantSchema(t))
	ctx := context.Background()
	if _, err := b.c.CreateTenant(ctx, client.CreateTenantParams{Slug: "acme", Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	s, err := b.c.GetSettings(ctx, "acme")
	if err != nil || s.Version != 0 || !json.Valid(s.Settings) {
		t.Fatalf("get: %+v %v", s, err)
	}
	v := s.Version
	s, err = b.c.PatchSettings(ctx, "acme", client.SettingsPatch{Patch: json.RawMessage(`{"tax_rate":0.2}`), IfVersion: &v})
	if err != nil || s.Version != 1 {
		t.Fatalf("patch at v0: %+v %v", s, err)
	}
	var doc map[string]any
	if err := json.Unmarshal(s.Settings, &doc); err != nil || doc["tax_rate"] != 0.2 {
		t.Fatalf("patched settings %s (%v)", s.Settings, err)
	}
	_, err = b.c.PatchSettings(ctx, "acme", client.SettingsPatch{Patch: json.RawMessage(`{"tax_rate":0.3}`), IfVersion: &v})
	wantError(t, err, http.StatusPreconditionFailed, "precondition-failed")

	// Settings that break the schema: every failing member, by pointer.
	_, err = b.c.PatchSettings(ctx, "acme", client.SettingsPatch{Patch: json.RawMessage(`{"tax_rate":"high","colour":"red"}`)})
	e := wantError(t, err, http.StatusUnprocessableEntity, "invalid-settings")
	if len(e.Errors) != 2 || e.Errors[0].Pointer != "/colour" || e.Errors[1].Pointer != "/tax_rate" || e.Errors[1].Detail == "" || e.Errors[0].Field != "" {
		t.Fatalf("errors %+v", e.Errors)
	}
	_, err = b.c.PatchSettings(ctx, "acme", client.SettingsPatch{Patch: json.RawMessage(`[1]`)})
	wantError(t, err, http.StatusBadRequest, "malformed-json")
	_, err = b.c.PatchSettings(ctx, "acme", client.SettingsPatch{})
	wantError(t, err, http.StatusBadRequest, "malformed-json")
	if s, err = b.c.GetSettings(ctx, "acme"); err != nil || s.Version != 1 {
		t.Fatalf("refused patches wrote: %+v %v", s, err)
	}
}
