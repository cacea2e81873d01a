package catalog

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// ReservedSlugs cannot be tenant slugs: they name the platform's own hosts.
var ReservedSlugs = []string{
	"www", "api", "admin", "app", "apps", "auth", "login", "mail", "smtp", "static", "assets",
	"cdn", "docs", "help", "support", "status", "billing", "dashboard", "console", "root",
	"system", "tenantkit", "localhost", "internal", "default", "public", "test",
}

// ValidateSlug reports why slug cannot be a tenant slug, or "".
func ValidateSlug(slug string) string {
	switch {
	case len(slug) < 3 || len(slug) > 63:
		return "must be 3 to 63 characters"
	case !isDNSLabel(slug):
		return "must be a lowercase DNS label: letters a-z, digits and hyphens, not starting or ending with a hyphen"
	case slices.Contains(ReservedSlugs, slug):
		return "is reserved"
	}
	return ""
}

func isDNSLabel(s string) bool {
	if s == "" || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func validateName(v *ValidationError, name string) {
	switch n := utf8.RuneCountInString(strings.TrimSpace(name)); {
	case n == 0:
		v.add("name", "is required")
	case n > 200 || len(name) > 800:
		v.add("name", "must be at most 200 characters")
	case !utf8.ValidString(name):
		v.add("name", "must be valid UTF-8")
	}
}

// NormalizeHost lower-cases host, strips a trailing dot, and reports
// whether it is a valid DNS name with at least two labels.
func NormalizeHost(host string) (string, bool) {
	host = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(host)), ".")
	if len(host) == 0 || len(host) > 253 {
		return host, false
	}
	labels := strings.Split(host, ".")
	if len(labels) < 2 {
		return host, false
	}
	for _, l := range labels {
		if len(l) > 63 || !isDNSLabel(l) {
			return host, false
		}
	}
	return host, true
}
