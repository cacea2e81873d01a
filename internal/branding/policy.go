package branding

import (
	"crypto/rand"
	"encoding/base64"
	"regexp"
	"strings"
)

// DefaultMaxCSSBytes is the custom CSS size limit when Policy.MaxCSSBytes is
// zero.
const DefaultMaxCSSBytes = 64 << 10

// Policy is the platform's side of branding: where tenant assets may live and
// how much custom CSS a tenant may bring. The zero value is usable and strict:
// no asset host, so no logo, favicon or url() is accepted.
type Policy struct {
	// AssetHost is the host (and optional port) that serves tenant assets,
	// e.g. "assets.example.com". Logo and favicon URLs and url() in custom CSS
	// must be https URLs on exactly this host. A value that is not a plain
	// host[:port] is treated as unset. Defaults to none.
	AssetHost string

	// MaxCSSBytes caps the size of custom CSS. Defaults to DefaultMaxCSSBytes.
	MaxCSSBytes int
}

var hostPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$`)

// assetHost returns the lowercased asset host, or "" when unset or malformed.
// A malformed host must not reach the CSP header, where it could add sources.
func (p Policy) assetHost() string {
	h := strings.ToLower(p.AssetHost)
	if !hostPattern.MatchString(h) {
		return ""
	}
	return h
}

func (p Policy) maxCSSBytes() int {
	if p.MaxCSSBytes <= 0 {
		return DefaultMaxCSSBytes
	}
	return p.MaxCSSBytes
}

// NewNonce returns a fresh CSP nonce: 16 bytes from crypto/rand, base64
// encoded. Use one per response, in both CSP and StyleHTML.
func NewNonce() string {
	var b [16]byte
	rand.Read(b[:]) // never fails since Go 1.24
	return base64.StdEncoding.EncodeToString(b[:])
}

var noncePattern = regexp.MustCompile(`^[A-Za-z0-9+/_-]+={0,2}$`)

// CSP returns a Content-Security-Policy header value for a page that renders
// branding with StyleHTML and the same nonce:
//
//	default-src 'self'; script-src 'nonce-N'; style-src 'self' 'nonce-N';
//	img-src 'self' https://ASSETHOST; font-src 'self' https://ASSETHOST;
//	base-uri 'none'; object-src 'none'; frame-ancestors 'none'; form-action 'self'
//
// Inline styles and scripts run only with the nonce, so markup injected
// elsewhere on the page cannot add its own. Images and fonts load from the
// page's origin and the asset host, the only host branding may reference.
// A nonce that is not base64 is dropped, which fails closed: no inline style
// or script is allowed.
func CSP(nonce string, p Policy) string {
	src := "'self'"
	if noncePattern.MatchString(nonce) {
		src = "'nonce-" + nonce + "'"
	}
	assets := "'self'"
	if h := p.assetHost(); h != "" {
		assets += " https://" + h
	}
	return "default-src 'self'; " +
		"script-src " + src + "; " +
		"style-src 'self' " + src + "; " +
		"img-src " + assets + "; " +
		"font-src " + assets + "; " +
		"base-uri 'none'; object-src 'none'; frame-ancestors 'none'; form-action 'self'"
}
