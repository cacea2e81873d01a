package adminapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/tenantkit/tenantkit/internal/adminapi"
	"github.com/tenantkit/tenantkit/internal/settings"
)

const mergePatch = "application/merge-patch+json"

func withRestaurantSchema(t *testing.T) func(*adminapi.Config) {
	t.Helper()
	schema, err := settings.Compile(settings.RestaurantSchema())
	if err != nil {
		t.Fatal(err)
	}
	return func(c *adminapi.Config) { c.SettingsSchema = schema }
}

// settingsOf decodes a settings answer and checks its ETag.
func settingsOf(t *testing.T, b *bundle, method, body string, hdr ...string) (map[string]any, int64) {
	t.Helper()
	w := b.do(t, method, "/api/v1/tenants/acme/settings", body, append([]string{"Content-Type", mergePatch}, hdr...)...)
	got := decode[adminapi.Settings](t, w, http.StatusOK)
	if etag := w.Header().Get("ETag"); etag != settings.ETag(got.Version) {
		t.Fatalf("ETag %q for version %d", etag, got.Version)
	}
	if ap := w.Header().Get("Accept-Patch"); ap != mergePatch {
		t.Fatalf("Accept-Patch %q", ap)
	}
	var doc map[string]any
	if err := json.Unmarshal(got.Settings, &doc); err != nil {
		t.Fatal(err)
	}
	return doc, got.Version
}

func (b *bundle) stored(t *testing.T) string {
	t.Helper()
	_, st, err := b.store.GetSettings(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	return string(st.Doc)
}

func TestSettingsReadWithDefaultsAndPatchTheStoredDocument(t *testing.T) {
	t.Parallel()
	b := setup(t, withRestaurantSchema(t))
	tn := b.create(t, "acme")

	doc, v := settingsOf(t, b, "GET", "")
	if v != 0 || doc["timezone"] != "UTC" || doc["tax_rate"] != 0.0 || doc["notifications"].(map[string]any)["email_digest"] != "weekly" {
		t.Fatalf("fresh settings v%d %v", v, doc)
	}

	doc, v = settingsOf(t, b, "PATCH", `{"tax_rate":0.2,"notifications":{"email_digest":"daily"}}`, "If-Match", `"v0"`)
	if v != 1 || doc["tax_rate"] != 0.2 || doc["notifications"].(map[string]any)["email_digest"] != "daily" || doc["currency"] != "USD" {
		t.Fatalf("patched v%d %v", v, doc)
	}
	// Defaults are filled on read, never stored.
	if got := b.stored(t); got != `{"tax_rate": 0.2, "notifications": {"email_digest": "daily"}}` {
		t.Fatalf("stored %s", got)
	}
	entries, err := b.store.Audit(context.Background(), tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	last := entries[len(entries)-1]
	var diff []settings.Change
	if err := json.Unmarshal(last.After, &diff); err != nil {
		t.Fatal(err)
	}
	want := []settings.Change{{Pointer: "/notifications", After: map[string]any{"email_digest": "daily"}}, {Pointer: "/tax_rate", After: 0.2}}
	if last.Action != "settings.update" || len(diff) != 2 || diff[0].Pointer != want[0].Pointer || diff[1].Pointer != want[1].Pointer || diff[1].After != 0.2 {
		t.Fatalf("audit %s %s", last.Action, last.After)
	}

	// null removes a stored value: the default applies again.
	doc, v = settingsOf(t, b, "PATCH", `{"tax_rate":null}`, "Content-Type", "application/json")
	if v != 2 || doc["tax_rate"] != 0.0 {
		t.Fatalf("after null v%d %v", v, doc)
	}
	if got := b.stored(t); got != `{"notifications": {"email_digest": "daily"}}` {
		t.Fatalf("stored after null %s", got)
	}
	// A list of tags matches when it holds the stored one; * always does.
	if _, v = settingsOf(t, b, "PATCH", `{"locale":"fr-FR"}`, "If-Match", `"v7", "v2"`); v != 3 {
		t.Fatalf("list: v%d", v)
	}
	if _, v = settingsOf(t, b, "PATCH", `{"currency":"EUR"}`, "If-Match", "*"); v != 4 {
		t.Fatalf("star: v%d", v)
	}
	// A patch that changes nothing writes nothing.
	if _, v = settingsOf(t, b, "PATCH", `{"currency":"EUR"}`); v != 4 {
		t.Fatalf("no change: v%d", v)
	}
}

func TestSettingsPatchNamesEveryInvalidFieldByPointer(t *testing.T) {
	t.Parallel()
	b := setup(t, withRestaurantSchema(t))
	b.create(t, "acme")
	settingsOf(t, b, "PATCH", `{"locale":"de-DE"}`)
	var p problemDoc
	b.writesNothing(t, "invalid patch", func() {
		w := b.do(t, "PATCH", "/api/v1/tenants/acme/settings",
			`{"tax_rate":"high","notifications":{"email_digest":"hourly","webhook_url":"not a url"},"colour":"red","custom_fields":[{"name":""}]}`,
			"Content-Type", mergePatch)
		wantProblem(t, w, http.StatusUnprocessableEntity, "invalid-settings")
		if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
	})
	var pointers []string
	for _, e := range p.Errors {
		if e.Detail == "" || e.Field != "" || e.Message != "" {
			t.Fatalf("error %+v is not {pointer, detail}", e)
		}
		pointers = append(pointers, *e.Pointer)
	}
	want := []string{"/colour", "/custom_fields/0/name", "/custom_fields/0/type", "/notifications/email_digest", "/notifications/webhook_url", "/tax_rate"}
	if !slices.Equal(pointers, want) {
		t.Fatalf("pointers %v, want %v; body %+v", pointers, want, p)
	}
	if p.Errors[5].Detail != "must be number, got string" || p.Errors[0].Detail != "is not a known setting" {
		t.Fatalf("details %+v", p.Errors)
	}
	// The stored document is validated as a whole: a valid patch passes.
	if doc, v := settingsOf(t, b, "PATCH", `{"tax_rate":0.1}`); v != 2 || doc["locale"] != "de-DE" {
		t.Fatalf("valid patch v%d %v", v, doc)
	}
}

// problemDoc is a problem whose errors keep a pointer's presence apart
// from the root pointer "".
type problemDoc struct {
	Errors []struct {
		Field, Message, Detail string
		Pointer                *string
	}
}

func TestSettingsPreconditionsAndBadRequests(t *testing.T) {
	t.Parallel()
	b := setup(t, withRestaurantSchema(t))
	b.create(t, "acme")
	settingsOf(t, b, "PATCH", `{"tax_rate":0.2}`)
	const path = "/api/v1/tenants/acme/settings"
	cases := []struct {
		name, body, ct, ifMatch string
		status                  int
		kind                    string
	}{
		{"stale", `{"tax_rate":0.3}`, mergePatch, `"v0"`, 412, "precondition-failed"},
		{"stale in a list", `{"tax_rate":0.3}`, mergePatch, `"v0", "v5"`, 412, "precondition-failed"},
		{"unquoted", `{"tax_rate":0.3}`, mergePatch, `v1`, 400, "bad-etag"},
		{"weak", `{"tax_rate":0.3}`, mergePatch, `W/"v1"`, 400, "bad-etag"},
		{"not ours", `{"tax_rate":0.3}`, mergePatch, `"abc"`, 400, "bad-etag"},
		{"one bad in a list", `{"tax_rate":0.3}`, mergePatch, `"v1", x`, 400, "bad-etag"},
		{"text", `{"tax_rate":0.3}`, "text/plain", "", 415, "unsupported-media-type"},
		{"json patch", `[{"op":"replace","path":"/tax_rate","value":0.3}]`, "application/json-patch+json", "", 415, "unsupported-media-type"},
		{"malformed", `{"tax_rate":`, mergePatch, "", 400, "malformed-json"},
		{"array", `[]`, mergePatch, "", 400, "malformed-json"},
		{"empty", ``, mergePatch, "", 400, "malformed-json"},
	}
	for _, c := range cases {
		b.writesNothing(t, c.name, func() {
			w := b.do(t, "PATCH", path, c.body, "Content-Type", c.ct, "If-Match", c.ifMatch)
			wantProblem(t, w, c.status, c.kind)
		})
	}
	wantProblem(t, b.do(t, "GET", "/api/v1/tenants/nosuch/settings", ""), http.StatusNotFound, "tenant-not-found")
	wantProblem(t, b.do(t, "PATCH", "/api/v1/tenants/nosuch/settings", `{}`, "Content-Type", mergePatch), http.StatusNotFound, "tenant-not-found")
	w := b.do(t, "PUT", path, `{}`)
	wantProblem(t, w, http.StatusMethodNotAllowed, "method-not-allowed")
	if allow := w.Header().Get("Allow"); allow != "GET, PATCH" {
		t.Fatalf("Allow %q", allow)
	}
}

func TestSettingsWithoutSchemaAreAnyObject(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.create(t, "acme")
	doc, v := settingsOf(t, b, "GET", "")
	if v != 0 || len(doc) != 0 {
		t.Fatalf("fresh v%d %v", v, doc)
	}
	doc, v = settingsOf(t, b, "PATCH", `{"anything":{"goes":[1,2]},"tax_rate":"high"}`)
	if v != 1 || doc["tax_rate"] != "high" || len(doc) != 2 {
		t.Fatalf("patched v%d %v", v, doc)
	}
}
