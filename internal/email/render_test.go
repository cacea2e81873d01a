package email_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/tenantkit/tenantkit/internal/email"
)

func globex() email.Branding {
	return email.Branding{
		ProductName:  "Globex",
		LogoURL:      "https://cdn.globex.example/logo.png",
		PrimaryColor: "#ff6600",
		AccentColor:  "#036",
		FromName:     "Globex",
		FromEmail:    "hello@globex.example",
		SupportURL:   "https://globex.example/help",
	}
}

func newRenderer(t *testing.T, cfg email.RendererConfig) *email.Renderer {
	t.Helper()
	r, err := email.NewRenderer(cfg)
	if err != nil {
		t.Fatalf("NewRenderer: %v", err)
	}
	return r
}

func TestBuiltinTemplates(t *testing.T) {
	t.Parallel()
	r := newRenderer(t, email.RendererConfig{})
	if got := strings.Join(r.Names(), ","); got != "password_reset,test,welcome" {
		t.Fatalf("Names = %s", got)
	}
	for _, tc := range []struct {
		name        string
		data        any
		wantSubject string
		wantText    []string
		wantHTML    []string
	}{
		{"welcome", email.WelcomeData{Name: "Ada", ActionURL: "https://globex.example/start"},
			"Welcome to Globex", []string{"Hi Ada,", "https://globex.example/start", "https://globex.example/help"},
			[]string{`href="https://globex.example/start"`, "Hi Ada,"}},
		{"password_reset", email.PasswordResetData{Name: "Ada", ResetURL: "https://globex.example/reset?t=abc&u=1", ExpiresIn: "1 hour"},
			"Reset your Globex password", []string{"Hi Ada,", "https://globex.example/reset?t=abc&u=1", "within 1 hour"},
			[]string{`href="https://globex.example/reset?t=abc&amp;u=1"`, "within 1 hour"}},
		{"test", email.TestData{Provider: "postmark"},
			"Globex: test email", []string{"postmark email integration"},
			[]string{"<strong>postmark</strong>"}},
		{"welcome", email.WelcomeData{}, // optional fields left out
			"Welcome to Globex", []string{"Hi,"}, []string{"Hi,"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			subject, text, html, err := r.Render(tc.name, globex(), tc.data)
			if err != nil {
				t.Fatal(err)
			}
			if subject != tc.wantSubject {
				t.Errorf("subject = %q, want %q", subject, tc.wantSubject)
			}
			for _, want := range tc.wantText {
				if !strings.Contains(text, want) {
					t.Errorf("text lacks %q:\n%s", want, text)
				}
			}
			if strings.Contains(text, "<") {
				t.Errorf("text has markup:\n%s", text)
			}
			for _, want := range append(tc.wantHTML, "<!DOCTYPE html>", `src="https://cdn.globex.example/logo.png"`) {
				if !strings.Contains(html, want) {
					t.Errorf("html lacks %q:\n%s", want, html)
				}
			}
		})
	}
}

func TestLayoutCarriesBranding(t *testing.T) {
	t.Parallel()
	r := newRenderer(t, email.RendererConfig{})
	_, _, html, err := r.Render("test", globex(), email.TestData{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`<img src="https://cdn.globex.example/logo.png" alt="Globex"`,
		"border-top:4px solid #ff6600",
		`<a href="https://globex.example/help" style="color:#036;">Support</a>`,
		"<title>Globex: test email</title>",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("html lacks %q:\n%s", want, html)
		}
	}

	// Without a logo the product name stands in, in the primary colour;
	// without a support URL there is no link; colours default.
	_, _, html, err = r.Render("test", email.Branding{ProductName: "Initech"}, email.TestData{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(html, "<img") || strings.Contains(html, "Support</a>") {
		t.Errorf("html has a logo or support link it was not given:\n%s", html)
	}
	if !strings.Contains(html, "color:"+email.DefaultPrimaryColor+`;">Initech</span>`) {
		t.Errorf("html lacks the product name in the default colour:\n%s", html)
	}
}

func TestRenderEscapesHostileData(t *testing.T) {
	t.Parallel()
	r := newRenderer(t, email.RendererConfig{})
	b := globex()
	b.ProductName = `Globex <img src=x onerror=alert(1)>`
	subject, text, html, err := r.Render("welcome", b, email.WelcomeData{
		Name:      "<script>alert('xss')</script>\r\nBcc: victim@example.com",
		ActionURL: "javascript:alert(1)",
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script>", "<img src=x", "javascript:"} {
		if strings.Contains(html, bad) {
			t.Errorf("html contains %q unescaped:\n%s", bad, html)
		}
	}
	if !strings.Contains(html, "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;") {
		t.Errorf("html lacks the escaped script:\n%s", html)
	}
	if strings.ContainsAny(subject, "\r\n") {
		t.Errorf("subject %q has a line break", subject)
	}
	// Plain text is not HTML: it keeps the data as typed.
	if !strings.Contains(text, "<script>alert('xss')</script>") {
		t.Errorf("text = %q", text)
	}
}

func TestRenderRefusesBadBranding(t *testing.T) {
	t.Parallel()
	r := newRenderer(t, email.RendererConfig{})
	for _, tc := range []struct {
		name   string
		change func(*email.Branding)
		wantIn string
	}{
		{"colour name", func(b *email.Branding) { b.PrimaryColor = "red" }, "primary colour"},
		{"CSS injection", func(b *email.Branding) { b.PrimaryColor = "#fff;background:url(https://evil.example/x)" }, "primary colour"},
		{"four digits", func(b *email.Branding) { b.AccentColor = "#abcd" }, "accent colour"},
		{"no hash", func(b *email.Branding) { b.AccentColor = "ff6600" }, "accent colour"},
		{"javascript logo", func(b *email.Branding) { b.LogoURL = "javascript:alert(1)" }, "logo URL"},
		{"data logo", func(b *email.Branding) { b.LogoURL = "data:image/png;base64,AAAA" }, "logo URL"},
		{"relative support", func(b *email.Branding) { b.SupportURL = "/help" }, "support URL"},
		{"quote in URL", func(b *email.Branding) { b.SupportURL = `https://globex.example/"onmouseover="x` }, "support URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := globex()
			tc.change(&b)
			_, _, html, err := r.Render("welcome", b, email.WelcomeData{})
			if !errors.Is(err, email.ErrInvalidBranding) || !strings.Contains(err.Error(), tc.wantIn) {
				t.Fatalf("Render = %v, want ErrInvalidBranding about %s", err, tc.wantIn)
			}
			if html != "" {
				t.Errorf("html returned with an error: %q", html)
			}
		})
	}
}

func TestCustomTemplatesAndLayout(t *testing.T) {
	t.Parallel()
	r := newRenderer(t, email.RendererConfig{
		FS: fstest.MapFS{
			"invoice.subject.tmpl": {Data: []byte("Invoice {{.Data.Number}} from {{.Brand.ProductName}}")},
			"invoice.txt.tmpl":     {Data: []byte("Invoice {{.Data.Number}}: {{.Data.Total}}")},
			"invoice.html.tmpl":    {Data: []byte("<p>Invoice {{.Data.Number}}: <b>{{.Data.Total}}</b></p>")},
			"welcome.subject.tmpl": {Data: []byte("Hello from {{.Brand.ProductName}}")},
			"welcome.txt.tmpl":     {Data: []byte("Hello.")},
		},
		Templates: []email.Template{{Name: "digest", Subject: "Your digest", Text: "{{len .Data}} updates"}},
		Layout:    `<div style="color:{{.Brand.PrimaryColor}}">{{.Brand.ProductName}}|{{.Body}}</div>`,
	})
	data := map[string]any{"Number": "INV-7", "Total": "<$10>"}
	subject, text, html, err := r.Render("invoice", globex(), data)
	if err != nil {
		t.Fatal(err)
	}
	if subject != "Invoice INV-7 from Globex" || text != "Invoice INV-7: <$10>" {
		t.Errorf("subject %q, text %q", subject, text)
	}
	if html != `<div style="color:#ff6600">Globex|<p>Invoice INV-7: <b>&lt;$10&gt;</b></p></div>` {
		t.Errorf("html = %s", html)
	}

	// The FS's welcome replaces the built-in one, without HTML.
	subject, _, html, err = r.Render("welcome", globex(), nil)
	if err != nil || subject != "Hello from Globex" || html != "" {
		t.Errorf("welcome = %q, html %q, %v", subject, html, err)
	}
	_, text, html, err = r.Render("digest", globex(), []int{1, 2, 3})
	if err != nil || text != "3 updates" || html != "" {
		t.Errorf("digest = %q, html %q, %v", text, html, err)
	}

	// A key the template uses but data lacks is an error, not "<no value>".
	if _, _, _, err := r.Render("invoice", globex(), map[string]any{"Number": "INV-8"}); err == nil {
		t.Error("missing data key rendered")
	}
	if _, _, _, err := r.Render("nope", globex(), nil); !errors.Is(err, email.ErrTemplateNotFound) {
		t.Errorf("Render(nope) = %v, want ErrTemplateNotFound", err)
	}
}

func TestNewRendererRefusesBadTemplates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  email.RendererConfig
	}{
		{"no text", email.RendererConfig{Templates: []email.Template{{Name: "x", Subject: "s"}}}},
		{"no subject", email.RendererConfig{Templates: []email.Template{{Name: "x", Text: "t"}}}},
		{"bad syntax", email.RendererConfig{Templates: []email.Template{{Name: "x", Subject: "s", Text: "{{.Data"}}}},
		{"bad html", email.RendererConfig{Templates: []email.Template{{Name: "x", Subject: "s", Text: "t", HTML: "{{if}}"}}}},
		{"bad layout", email.RendererConfig{Layout: "{{.Body"}},
		{"bad file name", email.RendererConfig{FS: fstest.MapFS{"x.md.tmpl": {Data: []byte("x")}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := email.NewRenderer(tc.cfg); err == nil {
				t.Fatal("NewRenderer accepted it")
			}
		})
	}
}

func ExampleRenderer_Render() {
	r, err := email.NewRenderer(email.RendererConfig{})
	if err != nil {
		panic(err)
	}
	b := email.Branding{ProductName: "Globex", PrimaryColor: "#ff6600"}
	subject, text, _, err := r.Render("password_reset", b, email.PasswordResetData{
		Name: "Ada", ResetURL: "https://globex.example/reset?t=abc", ExpiresIn: "1 hour",
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(subject)
	fmt.Println(strings.Split(text, "\n")[0])
	// Output:
	// Reset your Globex password
	// Hi Ada,
}
