package resolve_test

import (
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/internal/resolve"
)

func TestNewDomainValidatesConfig(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"", "exa mple.com", "example..com", "*.example.com", "example.com:80"} {
		if _, err := resolve.NewDomain(resolve.DomainConfig{Exclude: []string{"example.com", name}}); err == nil {
			t.Fatalf("NewDomain(Exclude: %q) succeeded; want an error", name)
		}
	}
}

func TestDomain(t *testing.T) {
	t.Parallel()
	d, err := resolve.NewDomain(resolve.DomainConfig{Exclude: []string{"Example.com.", "status.example.net"}})
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat(strings.Repeat("a", 63)+".", 4)
	tests := []struct {
		host string
		want string // "": ok=false
	}{
		{"shop.acme.com", "shop.acme.com"},
		{"acme.com", "acme.com"},
		{"acme.com:8443", "acme.com"},
		{"Shop.ACME.com.", "shop.acme.com"},
		{"SHOP.ACME.COM.:443", "shop.acme.com"},
		{"xn--bcher-kva.example", "xn--bcher-kva.example"},
		{"example.com.evil.com", "example.com.evil.com"},
		{"evilexample.com", "evilexample.com"},         // not below example.com
		{"example.net", "example.net"},                 // only status.example.net is excluded
		{long[:253-4] + ".com", long[:253-4] + ".com"}, // 253 bytes
		{"example.com", ""},
		{"EXAMPLE.COM:443", ""},
		{"acme.example.com", ""},
		{"a.b.example.com.", ""},
		{"status.example.net", ""},
		{"eu.status.example.net", ""},
		{"localhost", ""},
		{"localhost:8080", ""},
		{"acme.localhost", ""},
		{"intranet", ""},
		{"192.0.2.1", ""},
		{"192.0.2.1:80", ""},
		{"127.1", ""},
		{"[::1]:8080", ""},
		{"[2001:db8::1]", ""},
		{"", ""},
		{":443", ""},
		{"shop.acme.com:https", ""},
		{"shop_1.acme.com", ""},
		{"shop acme.com", ""},
		{"sh\u00f6p.acme.com", ""},
		{"-shop.acme.com", ""},
		{"shop..acme.com", ""},
		{".acme.com", ""},
		{"acme.com..", ""},
		{strings.Repeat("a", 64) + ".com", ""},
		{long[:253-3] + ".com", ""}, // 254 bytes
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			t.Parallel()
			got, ok, err := d.Resolve(requestForHost(tt.host))
			want := resolve.Ref{Kind: resolve.ByHost, Value: tt.want, Source: "domain"}
			switch {
			case err != nil:
				t.Fatalf("Resolve(%q): error %v", tt.host, err)
			case tt.want == "" && (ok || got != resolve.Ref{}):
				t.Fatalf("Resolve(%q) = %+v, %v; want not ok", tt.host, got, ok)
			case tt.want != "" && (!ok || got != want):
				t.Fatalf("Resolve(%q) = %+v, %v; want %+v", tt.host, got, ok, want)
			}
		})
	}
}

func TestDomainZeroValueConfig(t *testing.T) {
	t.Parallel()
	d, err := resolve.NewDomain(resolve.DomainConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := d.Resolve(requestForHost("acme.localhost")); ok {
		t.Fatal("acme.localhost resolved; want it excluded")
	}
	if _, ok, _ := d.Resolve(requestForHost("acme.com")); !ok {
		t.Fatal("acme.com not resolved")
	}
}
