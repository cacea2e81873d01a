package adminclient

import (
	"context"
	"net/http"

	"github.com/tenantkit/tenantkit/internal/adminapi"
	"github.com/tenantkit/tenantkit/internal/settings"
)

// GetSettings returns a tenant's settings, with the server's schema
// defaults filled in, and their version.
func (c *Client) GetSettings(ctx context.Context, ref string) (adminapi.Settings, error) {
	var s adminapi.Settings
	return s, c.do(ctx, http.MethodGet, tenantPath(ref)+"/settings", nil, &s)
}

// PatchSettings applies a JSON Merge Patch to a tenant's stored settings;
// with ifVersion, only if they are still at that version. The server
// validates the result against its schema.
func (c *Client) PatchSettings(ctx context.Context, ref string, ifVersion *int64, patch []byte) (adminapi.Settings, error) {
	hdr := http.Header{}
	hdr.Set("Content-Type", adminapi.MergePatchType)
	if ifVersion != nil {
		hdr.Set("If-Match", settings.ETag(*ifVersion))
	}
	var s adminapi.Settings
	return s, c.send(ctx, http.MethodPatch, tenantPath(ref)+"/settings", patch, hdr, &s)
}
