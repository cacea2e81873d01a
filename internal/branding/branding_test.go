package branding_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/internal/branding"
)

func TestNormalize(t *testing.T) {
	t.Parallel()
	in := branding.Branding{
		DisplayName:    "  Acme Corp ",
		LogoURL:        "https://assets.example.com/t/acme/logo.svg",
		FaviconURL:     "https://ASSETS.example.com/t/acme/favicon.ico",
		PrimaryColor:   "#1D4ED8",
		SecondaryColor: "rgb(100, 116, 139)",
		AccentColor:    "hsl(38 92% 50% / 50%)",
		FontFamily:     `Inter,   'Noto  Sans', SANS-SERIF`,
		CustomCSS:      ".btn {\n  border-radius: 4px;\n}\n",
		SupportEmail:   "help@acme.example",
		SupportURL:     "https://acme.example/help",
		TermsURL:       "https://acme.example/terms",
		PrivacyURL:     "https://acme.example/privacy",
		FromName:       "Acme Support",
	}
	want := in
	want.DisplayName = "Acme Corp"
	want.PrimaryColor = "#1d4ed8"
	want.SecondaryColor = "#64748b"
	want.AccentColor = "#f59f0a80"
	want.FontFamily = `"Inter", "Noto Sans", sans-serif`
	want.CustomCSS = ".btn{border-radius:4px}"

	got, errs := in.Normalize(testPolicy)
	if errs != nil {
		t.Fatalf("Normalize errors: %v", errs)
	}
	if got != want {
		t.Errorf("Normalize\n got %+v\nwant %+v", got, want)
	}
	if again, _ := got.Normalize(testPolicy); again != got {
		t.Errorf("Normalize is not idempotent: %+v", again)
	}
}

func TestBrandingJSON(t *testing.T) {
	t.Parallel()
	data, err := json.Marshal(branding.Branding{DisplayName: "a", FromName: "b", CustomCSS: "c"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"display_name":"a","logo_url":"","favicon_url":"","primary_color":"","secondary_color":"",` +
		`"accent_color":"","font_family":"","custom_css":"c","support_email":"","support_url":"",` +
		`"terms_url":"","privacy_url":"","from_name":"b"}`
	if string(data) != want {
		t.Errorf("JSON\n got %s\nwant %s", data, want)
	}
}

func TestValidateEmptyIsValid(t *testing.T) {
	t.Parallel()
	if errs := (branding.Branding{}).Validate(branding.Policy{}); errs != nil {
		t.Errorf("Validate(zero) = %v", errs)
	}
}

func TestValidateAssetURLsNeedAssetHost(t *testing.T) {
	t.Parallel()
	b := branding.Branding{LogoURL: "https://assets.example.com/logo.png", SupportURL: "https://acme.example/help"}
	errs := b.Validate(branding.Policy{})
	if len(errs) != 1 || errs[0].Field != "logo_url" || !strings.Contains(errs[0].Message, "no asset host") {
		t.Errorf("Validate without asset host = %v, want one logo_url error", errs)
	}
	if got := errs[0].Error(); !strings.HasPrefix(got, "branding: logo_url: ") {
		t.Errorf("Error() = %q", got)
	}
}

func TestValidateLimits(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		field string
		b     branding.Branding
		ok    bool
	}{
		{"display_name", branding.Branding{DisplayName: strings.Repeat("é", 100)}, true},
		{"display_name", branding.Branding{DisplayName: strings.Repeat("é", 101)}, false},
		{"from_name", branding.Branding{FromName: "Ünïcødé 株式会社"}, true},
		{"support_url", branding.Branding{SupportURL: "https://x.example/" + strings.Repeat("a", 2048-18)}, true},
		{"support_url", branding.Branding{SupportURL: "https://x.example/" + strings.Repeat("a", 2048-17)}, false},
		{"custom_css", branding.Branding{CustomCSS: strings.Repeat("a{b:c}", 64<<10/6)}, true},
		{"custom_css", branding.Branding{CustomCSS: strings.Repeat("}", 1000)}, false},
		{"font_family", branding.Branding{FontFamily: "a,b,c,d,e,f,g,h,i,j"}, true},
	} {
		errs := c.b.Validate(testPolicy)
		if c.ok != (errs == nil) {
			t.Errorf("%s: Validate = %v, want ok=%v", c.field, errs, c.ok)
		}
		for _, e := range errs {
			if e.Field != c.field {
				t.Errorf("error names %q, want %q", e.Field, c.field)
			}
		}
		if len(errs) > 11 {
			t.Errorf("%s: %d errors, want at most 11", c.field, len(errs))
		}
	}
}

func TestParseColor(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"#ABC", "#aabbcc"},
		{"#abcd", "#aabbccdd"},
		{"#AABBCC", "#aabbcc"},
		{"#aabbccff", "#aabbcc"},
		{"#aabbcc80", "#aabbcc80"},
		{" RebeccaPurple ", "#663399"},
		{"transparent", "#00000000"},
		{"rgb(255, 0, 0)", "#ff0000"},
		{"rgb(255 0 0)", "#ff0000"},
		{"rgb(100%, 50%, 0%)", "#ff8000"},
		{"rgba(0, 0, 255, 0.5)", "#0000ff80"},
		{"rgb(0 0 255 / 50%)", "#0000ff80"},
		{"rgb(300, -5, 1e2)", "#ff0064"},
		{"hsl(0, 100%, 50%)", "#ff0000"},
		{"hsl(120deg 100% 25%)", "#008000"},
		{"hsl(0.5turn 100% 50%)", "#00ffff"},
		{"hsl(-120 100% 50%)", "#0000ff"},
		{"hsla(240, 100%, 50%, .25)", "#0000ff40"},
	} {
		got, err := branding.ParseColor(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseColor(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"", "red;", "#ab", "#abcde", "rgb(1,2,3,4,5)", "rgb(1 2 3 4)", "rgb(nan,0,0)",
		"rgb(inf,0,0)", "rgb(0x10,0,0)", "rgb(1_0,0,0)", "hsl(1foo 1% 1%)", "color(srgb 1 0 0)", "rgb((1),2,3)", "inherit"} {
		if got, err := branding.ParseColor(in); err == nil {
			t.Errorf("ParseColor(%q) = %q, want error", in, got)
		}
	}
}

func TestParseFontFamily(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"Inter", `"Inter"`},
		{`"Inter", serif`, `"Inter", serif`},
		{`'Open Sans' ,Arial,sans-serif`, `"Open Sans", "Arial", sans-serif`},
		{`"serif"`, `"serif"`},
		{`Noto   Sans JP`, `"Noto Sans JP"`},
		{`微软雅黑, system-ui`, `"微软雅黑", system-ui`},
		{`Source-Code-Pro, UI-Monospace`, `"Source-Code-Pro", ui-monospace`},
	} {
		got, err := branding.ParseFontFamily(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseFontFamily(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestWithDefaults(t *testing.T) {
	t.Parallel()
	platform := branding.Branding{DisplayName: "Platform", PrimaryColor: "#000000", CustomCSS: "a{b:c}"}
	got := branding.Branding{DisplayName: "Acme"}.WithDefaults(platform)
	want := branding.Branding{DisplayName: "Acme", PrimaryColor: "#000000", CustomCSS: "a{b:c}"}
	if got != want {
		t.Errorf("WithDefaults = %+v, want %+v", got, want)
	}
}
