package branding_test

import (
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/internal/branding"
)

func BenchmarkSanitizeCSS(b *testing.B) {
	var typical strings.Builder
	for _, c := range benignCSS {
		typical.WriteString(c.in)
	}
	for _, bc := range []struct{ name, src string }{
		{"typical", typical.String()},
		// Pathological inputs at the size limit must stay linear.
		{"errors", strings.Repeat("}", branding.DefaultMaxCSSBytes)},
		{"bad-decls", "a{" + strings.Repeat("b;", branding.DefaultMaxCSSBytes/2-2) + "}"},
		{"nesting", strings.Repeat("a{", branding.DefaultMaxCSSBytes/2)},
		{"parens", "a{b:" + strings.Repeat("(", branding.DefaultMaxCSSBytes-8) + "}"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.src)))
			for b.Loop() {
				branding.SanitizeCSS(bc.src, testPolicy)
			}
		})
	}
}
