package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// Branding is a tenant's white-label look, as the server stores it: in
// canonical form (colours as #rrggbb, font names quoted, custom CSS
// sanitized). An empty field is unset.
type Branding struct {
	DisplayName    string `json:"display_name,omitempty"`
	LogoURL        string `json:"logo_url,omitempty"`
	FaviconURL     string `json:"favicon_url,omitempty"`
	PrimaryColor   string `json:"primary_color,omitempty"`
	SecondaryColor string `json:"secondary_color,omitempty"`
	AccentColor    string `json:"accent_color,omitempty"`
	FontFamily     string `json:"font_family,omitempty"`
	CustomCSS      string `json:"custom_css,omitempty"`
	SupportEmail   string `json:"support_email,omitempty"`
	FromName       string `json:"from_name,omitempty"`
	FromEmail      string `json:"from_email,omitempty"`
	SupportURL     string `json:"support_url,omitempty"`
	TermsURL       string `json:"terms_url,omitempty"`
	PrivacyURL     string `json:"privacy_url,omitempty"`
	// Version counts the writes (0: never written); it is the ETag.
	Version int64 `json:"version,omitempty"`
}

// GetBranding returns a tenant's branding.
func (c *Client) GetBranding(ctx context.Context, ref string) (Branding, error) {
	var b Branding
	return b, c.call(ctx, http.MethodGet, tenantPath(ref)+"/branding", nil, nil, &b)
}

// SetBranding replaces a tenant's branding with b and returns what was
// stored. With ifVersion, only when the stored branding is at that version
// (0: never written), else 412 precondition-failed. Invalid values are
// refused with 422 invalid-fields naming each.
func (c *Client) SetBranding(ctx context.Context, ref string, b Branding, ifVersion *int64) (Branding, error) {
	b.Version = 0
	body, err := json.Marshal(b)
	if err != nil {
		return Branding{}, fmt.Errorf("client: encoding the branding: %w", err)
	}
	r := request{method: http.MethodPut, path: tenantPath(ref) + "/branding", body: body,
		header: http.Header{"Content-Type": {"application/json"}}}
	if ifVersion != nil {
		r.header.Set("If-Match", `"v`+strconv.FormatInt(*ifVersion, 10)+`"`)
	}
	var out Branding
	return out, c.send(ctx, r, &out)
}

// UploadLogo stores data, an image of contentType (image/png, image/jpeg
// or image/webp; at most 1 MiB), as the tenant's logo and returns the
// branding, whose LogoURL now points at it on the platform's asset host.
// Bytes that are not an image of that type are refused with 422
// invalid-image (415 for a type not taken); a tenant without storage, and
// no platform default, with 409 no-storage; a server without an asset
// host with 501.
func (c *Client) UploadLogo(ctx context.Context, ref, contentType string, data []byte) (Branding, error) {
	return c.uploadAsset(ctx, ref, "logo", contentType, data)
}

// UploadFavicon is UploadLogo for the favicon, which may also be an ICO
// (image/x-icon or image/vnd.microsoft.icon).
func (c *Client) UploadFavicon(ctx context.Context, ref, contentType string, data []byte) (Branding, error) {
	return c.uploadAsset(ctx, ref, "favicon", contentType, data)
}

func (c *Client) uploadAsset(ctx context.Context, ref, asset, contentType string, data []byte) (Branding, error) {
	if data == nil {
		data = []byte{}
	}
	r := request{method: http.MethodPut, path: tenantPath(ref) + "/branding/" + asset, body: data,
		header: http.Header{"Content-Type": {contentType}}}
	var out Branding
	return out, c.send(ctx, r, &out)
}
