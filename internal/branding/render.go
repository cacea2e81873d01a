package branding

import (
	"html/template"
	"strings"
)

// StyleHTML renders b for a page's <head>:
//
//	<style nonce="N">:root{--color-primary:…;--color-secondary:…;--color-accent:…;--font-family:…}CUSTOM</style>
//	<link rel="icon" href="…">
//
// It trusts nothing in b: colours and the font family are parsed again and
// replaced by the Default… constants when unset or invalid, custom CSS is
// passed through SanitizeCSS and only its clean output is written, and the
// favicon link appears only for a URL that Validate would accept. Apply the
// platform's defaults first with Branding.WithDefaults. An empty nonce omits
// the attribute.
func StyleHTML(b Branding, nonce string, p Policy) template.HTML {
	custom, _ := SanitizeCSS(b.CustomCSS, p)
	var h strings.Builder
	h.WriteString("<style")
	if nonce != "" {
		h.WriteString(` nonce="` + template.HTMLEscapeString(nonce) + `"`)
	}
	h.WriteString(">" + RootCSS(b) + custom + "</style>")
	if fav, err := checkAssetURL(b.FaviconURL, p); b.FaviconURL != "" && err == nil {
		h.WriteString(`<link rel="icon" href="` + template.HTMLEscapeString(fav) + `">`)
	}
	return template.HTML(h.String()) //nolint:gosec // every part above is escaped or re-serialized
}

// RootCSS returns the :root rule StyleHTML writes, declaring
// --color-primary, --color-secondary, --color-accent and --font-family.
func RootCSS(b Branding) string {
	return ":root{--color-primary:" + colorOr(b.PrimaryColor, DefaultPrimaryColor) +
		";--color-secondary:" + colorOr(b.SecondaryColor, DefaultSecondaryColor) +
		";--color-accent:" + colorOr(b.AccentColor, DefaultAccentColor) +
		";--font-family:" + fontOr(b.FontFamily) + "}"
}

func colorOr(s, def string) string {
	if c, err := ParseColor(s); err == nil {
		return c
	}
	return def
}

func fontOr(s string) string {
	if f, err := ParseFontFamily(s); err == nil && f != "" {
		return f
	}
	return DefaultFontFamily
}

// FuncMap returns template functions for rendering branding with p:
//
//	branding BRANDING NONCE   → StyleHTML(BRANDING, NONCE, p), for <head>
//
// so a layout can say {{branding .Branding .Nonce}}.
func FuncMap(p Policy) template.FuncMap {
	return template.FuncMap{
		"branding": func(b Branding, nonce string) template.HTML { return StyleHTML(b, nonce, p) },
	}
}
