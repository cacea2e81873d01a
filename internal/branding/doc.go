// Package branding holds a tenant's white-label branding (name, logo,
// colours, font, custom CSS, support links) and turns it into the
// <style> and <link rel="icon"> that a server-rendered page puts in its
// <head>, so the tenant's look arrives with the first byte and no
// unstyled flash follows.
//
// Branding is data a tenant admin types, so every field is treated as
// hostile. [Branding.Validate] refuses bad values with a message naming the
// field, and [StyleHTML] re-checks everything it renders, so a value that
// bypassed validation (an old catalog row, a direct database edit) still
// cannot break out of the page:
//
//   - Colours are parsed (#rgb, #rgba, #rrggbb, #rrggbbaa, rgb(), rgba(),
//     hsl(), hsla() with numeric arguments, and the CSS named colours) and
//     rendered only in canonical lowercase hex.
//   - A font family is a comma-separated list of generic families
//     (serif, sans-serif, system-ui, …) and names made of letters, digits,
//     spaces and hyphens; names are rendered as escaped CSS strings.
//   - Logo and favicon URLs are absolute https URLs on [Policy.AssetHost];
//     support, terms and privacy URLs are any absolute https URL. None may
//     carry userinfo, whitespace, control characters or backslashes, or
//     exceed 2048 bytes.
//   - Display and email sender names have no control or bidi-override
//     characters and at most 100 runes; the support email is a bare address.
//   - Custom CSS goes through a real CSS parser
//     (github.com/tdewolff/parse/v2/css) and is re-serialized token by
//     token; the input is never echoed. See [SanitizeCSS] for what survives.
//
// Pages that use StyleHTML should send the header built by [CSP] with the
// same per-response nonce from [NewNonce].
package branding
