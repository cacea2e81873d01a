package branding_test

import (
	"bytes"
	"html/template"
	"regexp"
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/internal/branding"
)

func TestStyleHTML(t *testing.T) {
	t.Parallel()
	b := branding.Branding{
		PrimaryColor: "#1D4ED8",
		FontFamily:   `Inter, sans-serif`,
		CustomCSS:    `.hero{background:url(https://assets.example.com/h.png)}`,
		FaviconURL:   "https://assets.example.com/f.ico?a=1&b=2",
	}
	got := string(branding.StyleHTML(b, "abc+/=", testPolicy))
	want := `<style nonce="abc+/=">:root{--color-primary:#1d4ed8;--color-secondary:#64748b;` +
		`--color-accent:#f59e0b;--font-family:"Inter", sans-serif}` +
		`.hero{background:url("https://assets.example.com/h.png")}</style>` +
		`<link rel="icon" href="https://assets.example.com/f.ico?a=1&amp;b=2">`
	if got != want {
		t.Errorf("StyleHTML\n got %s\nwant %s", got, want)
	}
	requireSafeHTML(t, b, got)
}

func TestStyleHTMLDefaults(t *testing.T) {
	t.Parallel()
	got := string(branding.StyleHTML(branding.Branding{}, "", branding.Policy{}))
	want := `<style>:root{--color-primary:#2563eb;--color-secondary:#64748b;--color-accent:#f59e0b;` +
		`--font-family:system-ui, sans-serif}</style>`
	if got != want {
		t.Errorf("StyleHTML(zero)\n got %s\nwant %s", got, want)
	}
}

func TestStyleHTMLDropsOnlyWhatIsBad(t *testing.T) {
	t.Parallel()
	b := branding.Branding{
		PrimaryColor: "#000",
		AccentColor:  "red;}body{x:y",
		CustomCSS:    `a{color:red;background:url(https://evil.example/x)}@import "x";b{margin:0}`,
		FaviconURL:   "https://evil.example/f.ico",
	}
	got := string(branding.StyleHTML(b, "n", testPolicy))
	want := `<style nonce="n">:root{--color-primary:#000000;--color-secondary:#64748b;` +
		`--color-accent:#f59e0b;--font-family:system-ui, sans-serif}a{color:red}b{margin:0}</style>`
	if got != want {
		t.Errorf("StyleHTML\n got %s\nwant %s", got, want)
	}
}

func TestFuncMap(t *testing.T) {
	t.Parallel()
	tmpl := template.Must(template.New("layout").Funcs(branding.FuncMap(testPolicy)).Parse(
		`<!doctype html><html><head>{{branding .Branding .Nonce}}<title>{{.Branding.DisplayName}}</title></head></html>`))
	var out bytes.Buffer
	data := struct {
		Branding branding.Branding
		Nonce    string
	}{branding.Branding{DisplayName: "</title><script>", CustomCSS: "a{color:red}"}, "n1"}
	if err := tmpl.Execute(&out, data); err != nil {
		t.Fatal(err)
	}
	want := `<head><style nonce="n1">:root{--color-primary:#2563eb;--color-secondary:#64748b;` +
		`--color-accent:#f59e0b;--font-family:system-ui, sans-serif}a{color:red}</style>` +
		`<title>&lt;/title&gt;&lt;script&gt;</title></head>`
	if !strings.Contains(out.String(), want) {
		t.Errorf("template output\n%s\nwant it to contain\n%s", out.String(), want)
	}
}

func TestCSP(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		nonce  string
		policy branding.Policy
		want   string
	}{
		{"abc+/=", testPolicy, "default-src 'self'; script-src 'nonce-abc+/='; style-src 'self' 'nonce-abc+/='; " +
			"img-src 'self' https://assets.example.com; font-src 'self' https://assets.example.com; " +
			"base-uri 'none'; object-src 'none'; frame-ancestors 'none'; form-action 'self'"},
		{"x'; script-src *", branding.Policy{AssetHost: "a.example; script-src *"}, "default-src 'self'; script-src 'self'; " +
			"style-src 'self' 'self'; img-src 'self'; font-src 'self'; " +
			"base-uri 'none'; object-src 'none'; frame-ancestors 'none'; form-action 'self'"},
	} {
		if got := branding.CSP(c.nonce, c.policy); got != c.want {
			t.Errorf("CSP(%q, %+v)\n got %s\nwant %s", c.nonce, c.policy, got, c.want)
		}
	}
}

func TestNewNonce(t *testing.T) {
	t.Parallel()
	a, b := branding.NewNonce(), branding.NewNonce()
	if a == b {
		t.Errorf("two nonces are equal: %q", a)
	}
	if !regexp.MustCompile(`^[A-Za-z0-9+/]{22}==$`).MatchString(a) {
		t.Errorf("nonce %q is not base64 of 16 bytes", a)
	}
	if !strings.Contains(branding.CSP(a, testPolicy), "'nonce-"+a+"'") {
		t.Errorf("CSP does not carry nonce %q", a)
	}
}

// FuzzStyleHTML renders arbitrary field values and checks the result as an
// HTML parser sees it: one style element holding no '<' and no url() off the
// asset host, and nothing else but an icon link.
func FuzzStyleHTML(f *testing.F) {
	for _, c := range loadHostile(f) {
		if len(c.value) < 4096 {
			f.Add(c.value, c.value, c.value, c.value)
		}
	}
	f.Add(`a{b:c}`, `"Inter", serif`, `#fff`, `https://assets.example.com/f.ico`)
	f.Fuzz(func(t *testing.T, customCSS, font, color, favicon string) {
		b := branding.Branding{CustomCSS: customCSS, FontFamily: font, PrimaryColor: color, FaviconURL: favicon}
		out := string(branding.StyleHTML(b, "n", testPolicy))
		styles, others := parseHead(t, out)
		if len(styles) != 1 || strings.ContainsRune(styles[0], '<') {
			t.Fatalf("bad style element in %q", out)
		}
		requireAssetURLs(t, styles[0])
		for _, tag := range others {
			if tag != "link" {
				t.Fatalf("<%s> element in %q", tag, out)
			}
		}
		if n := strings.Count(out, "<"); n != 2+len(others) {
			t.Fatalf("%d '<' in %q", n, out)
		}
	})
}
