package client

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
)

// Settings are a tenant's settings: the stored document with the server's
// schema defaults filled in, and the version of the stored document (0:
// never written).
type Settings struct {
	Settings json.RawMessage `json:"settings"`
	Version  int64           `json:"version"`
}

// SettingsPatch changes a tenant's settings.
type SettingsPatch struct {
	// Patch is an RFC 7396 JSON Merge Patch of the stored settings: a
	// member set to null reverts that setting to its default. Required.
	Patch json.RawMessage
	// IfVersion, when not nil, applies the patch only if the stored
	// settings are still at that version (If-Match); otherwise the write
	// is refused with 412 precondition-failed. Defaults to nil: applied
	// whatever the version.
	IfVersion *int64
}

// GetSettings returns a tenant's settings.
func (c *Client) GetSettings(ctx context.Context, ref string) (Settings, error) {
	var s Settings
	return s, c.call(ctx, http.MethodGet, tenantPath(ref)+"/settings", nil, nil, &s)
}

// PatchSettings applies p to a tenant's stored settings and returns the
// result. Settings that break the server's schema are refused with 422
// invalid-settings, whose Error.Errors point at every failing member.
func (c *Client) PatchSettings(ctx context.Context, ref string, p SettingsPatch) (Settings, error) {
	r := request{method: http.MethodPatch, path: tenantPath(ref) + "/settings", body: []byte(p.Patch),
		header: http.Header{"Content-Type": {"application/merge-patch+json"}}}
	if r.body == nil {
		r.body = []byte{} // the server's 400 says the patch is missing
	}
	if p.IfVersion != nil {
		// The entity tag GetSettings' ETag header gives for the version.
		r.header.Set("If-Match", `"v`+strconv.FormatInt(*p.IfVersion, 10)+`"`)
	}
	var s Settings
	return s, c.send(ctx, r, &s)
}
