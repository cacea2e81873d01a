package branding_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/tdewolff/parse/v2"
	"github.com/tdewolff/parse/v2/css"

	"github.com/tenantkit/tenantkit/internal/branding"
)

// benignCSS is custom CSS an operator may write. Each case lists the
// canonical form SanitizeCSS returns; it must come with no problems and
// survive a second pass unchanged.
var benignCSS = []struct{ in, want string }{
	{`.btn{color:var(--color-primary);border-radius:4px}`, `.btn{color:var(--color-primary);border-radius:4px}`},
	{".btn {\n  color: var(--color-primary);\n  border-radius: 4px;\n}\n", `.btn{color:var(--color-primary);border-radius:4px}`},
	{`.hero{background:url(https://assets.example.com/hero.png) no-repeat center / cover}`,
		`.hero{background:url("https://assets.example.com/hero.png") no-repeat center/cover}`},
	{`.hero{background-image:url( 'https://assets.example.com/a%20b.png?v=2#x' )}`,
		`.hero{background-image:url("https://assets.example.com/a%20b.png?v=2#x")}`},
	{`.hero{background:URL("https://ASSETS.example.com/h.png")}`, `.hero{background:url("https://ASSETS.example.com/h.png")}`},
	{`/* brand */ a{/* c */color:red}`, `a{color:red}`},
	{`@media (max-width: 600px) { .nav > li + li , .nav ~ p { margin : 0 auto !important ; } }`,
		`@media(max-width:600px){.nav>li+li,.nav~p{margin:0 auto!important}}`},
	{`@supports (display:grid) and (not (display:inline-grid)){.g{display:grid}}`,
		`@supports(display:grid) and (not (display:inline-grid)){.g{display:grid}}`},
	{`@keyframes spin{from{transform:rotate(0deg)}to{transform:rotate(1turn)}}`,
		`@keyframes spin{from{transform:rotate(0deg)}to{transform:rotate(1turn)}}`},
	{`@-webkit-keyframes pulse{0%{opacity:1}50%{opacity:.5}}`, `@-webkit-keyframes pulse{0%{opacity:1}50%{opacity:.5}}`},
	{`@font-face{font-family:"Brand";src:url(https://assets.example.com/b.woff2) format("woff2"),local(Brand);unicode-range:U+0000-00FF;font-display:swap}`,
		`@font-face{font-family:"Brand";src:url("https://assets.example.com/b.woff2") format("woff2"),local(Brand);unicode-range:U+0000-00FF;font-display:swap}`},
	{`@layer base, brand;@layer brand{h1{font-weight:700}}`, `@layer base,brand;@layer brand{h1{font-weight:700}}`},
	{`.card{&:hover{box-shadow:0 1px 2px rgb(0 0 0 / 20%)}.title{color:var(--color-accent,#333)}}`,
		`.card{&:hover{box-shadow:0 1px 2px rgb(0 0 0/20%)}.title{color:var(--color-accent,#333)}}`},
	{`.card{padding:1rem;.title{margin:0}}`, `.card{padding:1rem;.title{margin:0}}`},
	{`:root{--radius: 6px;--shadow: 0 0 0 1px  #ddd}`, `:root{--radius:6px;--shadow:0 0 0 1px #ddd}`},
	{`a[href^="https://"]:not(.plain)::after{content:" ↗"}`, `a[href^="https://"]:not(.plain)::after{content:" ↗"}`},
	{`li:nth-child(2n+1){background:#f5f5f5}`, `li:nth-child(2n+1){background:#f5f5f5}`},
	{`.w{width:calc(100% - 2 * var(--gap));grid-template-columns:repeat(3,minmax(0,1fr))}`,
		`.w{width:calc(100% - 2 * var(--gap));grid-template-columns:repeat(3,minmax(0,1fr))}`},
	{`.q::before{content:"\201C";quotes:"«" "»"}`, `.q::before{content:"“";quotes:"«" "»"}`},
	{`.b{background:linear-gradient(90deg,var(--color-primary),var(--color-secondary))}`,
		`.b{background:linear-gradient(90deg,var(--color-primary),var(--color-secondary))}`},
	{`.e{font-family:"Brand \"Sans\"", sans-serif;content:'it\'s > that'}`,
		`.e{font-family:"Brand \22 Sans\22 ",sans-serif;content:"it's \3e  that"}`},
	{`.i\:hover{color:red}.\31 0{color:blue}`, `.i\3a hover{color:red}.\31 0{color:blue}`},
	{`@page{margin:1cm}`, `@page{margin:1cm}`},
}

func TestSanitizeCSSBenign(t *testing.T) {
	t.Parallel()
	for _, c := range benignCSS {
		got, problems := branding.SanitizeCSS(c.in, testPolicy)
		if len(problems) > 0 {
			t.Errorf("SanitizeCSS(%q) problems: %q", c.in, problems)
		}
		if got != c.want {
			t.Errorf("SanitizeCSS(%q)\n got %s\nwant %s", c.in, got, c.want)
		}
		if again, _ := branding.SanitizeCSS(got, testPolicy); again != got {
			t.Errorf("not idempotent: %q → %q", got, again)
		}
		b := branding.Branding{CustomCSS: c.in}
		if errs := b.Validate(testPolicy); errs != nil {
			t.Errorf("Validate(%q) = %v", c.in, errs)
		}
	}
}

func TestSanitizeCSSRefuses(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in     string
		policy branding.Policy
		want   string // substring of one problem
	}{
		{`a{background:url(https://assets.example.com/x.png)}`, branding.Policy{}, "no asset host"},
		{`a{background:url(https://assets.example.com/x.png)}`, branding.Policy{AssetHost: "x;script-src *"}, "no asset host"},
		{strings.Repeat("a{b:c}", 20), branding.Policy{MaxCSSBytes: 100}, "120 bytes; at most 100"},
		{"a{color:red}\xff", testPolicy, "not valid UTF-8"},
		{"a{color:red}\x00", testPolicy, "U+0000"},
		{`a{content:"a\"}`, testPolicy, "unclosed string"},
		{`a{color:red}/*`, testPolicy, "unclosed comment"},
		{`@media print{a{color:red}`, testPolicy, "unclosed block"},
		{`a{b:rgb(1,2}`, testPolicy, `")" missing`},
		{`a{b:c)}`, testPolicy, `unbalanced ")"`},
		{`a{b:@x}`, testPolicy, `@x is not allowed here`},
		{`a{b:c ? d}`, testPolicy, `"?" is not allowed`},
		{`--x:1`, testPolicy, "outside a rule"},
		{`a{x:1px}@font-face x{src:local(a)}`, testPolicy, "@font-face takes no prelude"},
		{`a{b:attr(href)}`, testPolicy, "function attr() is not allowed"},
		{`a{b:c}`, branding.Policy{}, ""},
	} {
		_, problems := branding.SanitizeCSS(c.in, c.policy)
		if c.want == "" {
			if len(problems) > 0 {
				t.Errorf("SanitizeCSS(%q) problems %q, want none", c.in, problems)
			}
			continue
		}
		if !containsSubstring(problems, c.want) {
			t.Errorf("SanitizeCSS(%q) problems %q, want one containing %q", c.in, problems, c.want)
		}
	}
}

func containsSubstring(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// FuzzSanitizeCSS checks the sanitizer's promises on any input: the output
// holds no '<', every url() in it points at the asset host, and sanitizing
// the output again changes nothing and finds nothing.
func FuzzSanitizeCSS(f *testing.F) {
	for _, c := range loadHostile(f) {
		if c.field == "custom_css" && len(c.value) < 4096 {
			f.Add(c.value)
		}
	}
	for _, c := range benignCSS {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, src string) {
		out, _ := branding.SanitizeCSS(src, testPolicy)
		if strings.ContainsRune(out, '<') {
			t.Fatalf("output contains '<': %q", out)
		}
		requireAssetURLs(t, out)
		again, problems2 := branding.SanitizeCSS(out, testPolicy)
		if again != out {
			t.Fatalf("not idempotent:\n in %q\nout %q\n 2x %q", src, out, again)
		}
		if len(problems2) > 0 {
			t.Fatalf("sanitized output has problems %q:\n in %q\nout %q", problems2, src, out)
		}
	})
}

var assetURLToken = regexp.MustCompile(`(?i)^url\("https://assets\.example\.com([/?#][^"]*)?"\)$`)

// requireAssetURLs lexes css as a browser would and checks every URL in it.
func requireAssetURLs(t *testing.T, out string) {
	t.Helper()
	l := css.NewLexer(parse.NewInputString(out))
	for {
		tt, data := l.Next()
		switch tt {
		case css.ErrorToken:
			return
		case css.URLToken:
			if !assetURLToken.MatchString(string(data)) {
				t.Fatalf("url to a non-asset host %q in %q", data, out)
			}
		case css.BadURLToken, css.BadStringToken, css.CDOToken, css.CDCToken:
			t.Fatalf("%v %q in %q", tt, data, out)
		case css.FunctionToken:
			if name := strings.ToLower(string(data)); strings.Contains(name, "\\") || name == "url(" {
				t.Fatalf("function %q in %q", data, out)
			}
		}
	}
}

// TestSanitizeCSSKeepsTokensApart covers tokens that a dropped comment leaves
// side by side: written together they would lex as one different token
// ("url" "(" → url(, "/" "*" → a comment), so the writer separates them.
func TestSanitizeCSSKeepsTokensApart(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{`a{b:url/**/(x)}`, `a{b:url (x)}`},
		{`a{b:1/**/e3}`, `a{b:1 e3}`},
		{`a{b:1/**/px}`, `a{b:1 px}`},
		{`a{b:-/**/-x}`, `a{b:- -x}`},
		{`a{b:--/**/>}`, `a{b:-- >}`},
		{`a{b:~/**/=}`, `a{b:~ =}`},
		{`a{grid-area:1 / *}`, `a{grid-area:1/ *}`},
		{`a{width:1\65 3px}`, `a{width:1\65 3px}`},
		{`a{x:\-1}`, `a{x:-\31 }`},
	} {
		got, problems := branding.SanitizeCSS(c.in, testPolicy)
		if got != c.want || problems != nil {
			t.Errorf("SanitizeCSS(%q) = %q, %q; want %q", c.in, got, problems, c.want)
		}
	}
}

// TestSanitizeCSSFollowsParserRecovery covers stray closing brackets, on
// which the parser closes the current block without saying so. The output
// must nest as the parser saw it, so that it parses the same way again.
func TestSanitizeCSSFollowsParserRecovery(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{`0{@layer {0)A:0`, `0{@layer{}a:0}`},
		{`@media print{a)b{c:d}}`, `@media print{}b{c:d}`},
		{`@media print{a{b:c}) d{e:f}}x{y:z}`, `@media print{a{b:c}}d{e:f}x{y:z}`},
		{`a{@media print{@foo )b:c}}`, `a{@media print{}b:c}`},
		{`a{b:c}}}}d{e:f}`, `a{b:c}d{e:f}`},
	} {
		got, problems := branding.SanitizeCSS(c.in, testPolicy)
		if got != c.want || problems == nil {
			t.Errorf("SanitizeCSS(%q) = %q, %q; want %q and problems", c.in, got, problems, c.want)
		}
		if again, _ := branding.SanitizeCSS(got, testPolicy); again != got {
			t.Errorf("not idempotent: %q → %q", got, again)
		}
	}
}
