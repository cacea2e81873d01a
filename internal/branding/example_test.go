package branding_test

import (
	"fmt"

	"github.com/tenantkit/tenantkit/internal/branding"
)

func ExampleStyleHTML() {
	p := branding.Policy{AssetHost: "assets.example.com"}
	b := branding.Branding{
		PrimaryColor: "RebeccaPurple",
		FontFamily:   "Inter, sans-serif",
		CustomCSS:    ".btn { border-radius: 4px } a { background: url(https://evil.example/x) }",
	}
	for _, e := range b.Validate(p) {
		fmt.Println(e)
	}
	fmt.Println(branding.StyleHTML(b, "r4nd0m", p))
	// Output:
	// branding: custom_css: url("https://evil.example/x") is not allowed: host "evil.example" is not the asset host; use https://assets.example.com/…
	// <style nonce="r4nd0m">:root{--color-primary:#663399;--color-secondary:#64748b;--color-accent:#f59e0b;--font-family:"Inter", sans-serif}.btn{border-radius:4px}a{}</style>
}
