package resolve_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/internal/resolve"
)

func requestForHost(host string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Host = host
	return r
}

func newSubdomain(t testing.TB, cfg resolve.SubdomainConfig) *resolve.Subdomain {
	t.Helper()
	s, err := resolve.NewSubdomain(cfg)
	if err != nil {
		t.Fatalf("NewSubdomain: %v", err)
	}
	return s
}

func TestNewSubdomainValidatesConfig(t *testing.T) {
	t.Parallel()
	for _, base := range []string{"", "exa mple.com", "-example.com", "example..com", "127.0.0.1", "[::1]", "example.com:8080", strings.Repeat("a", 64) + ".com"} {
		if _, err := resolve.NewSubdomain(resolve.SubdomainConfig{BaseDomain: base}); err == nil {
			t.Fatalf("NewSubdomain(BaseDomain: %q) succeeded; want an error", base)
		}
	}
}

func TestSubdomain(t *testing.T) {
	t.Parallel()
	example := newSubdomain(t, resolve.SubdomainConfig{BaseDomain: "Example.COM."})
	local := newSubdomain(t, resolve.SubdomainConfig{BaseDomain: "localhost"})
	custom := newSubdomain(t, resolve.SubdomainConfig{BaseDomain: "example.com", Reserved: []string{"Billing"}})
	none := newSubdomain(t, resolve.SubdomainConfig{BaseDomain: "example.com", Reserved: []string{}})

	tests := []struct {
		name     string
		resolver *resolve.Subdomain
		host     string
		want     string // "": ok=false
	}{
		{"tenant", example, "acme.example.com", "acme"},
		{"port", example, "acme.example.com:8443", "acme"},
		{"trailing dot", example, "acme.example.com.", "acme"},
		{"trailing dot and port", example, "acme.example.com.:443", "acme"},
		{"upper-case label", example, "ACME.example.com", "acme"},
		{"upper-case base", example, "acme.EXAMPLE.Com", "acme"},
		{"digits and hyphen", example, "acme-2.example.com", "acme-2"},
		{"63-byte label", example, strings.Repeat("a", 63) + ".example.com", strings.Repeat("a", 63)},
		{"localhost", local, "acme.localhost:8080", "acme"},
		{"localhost itself", local, "localhost:8080", ""},
		{"base itself", example, "example.com", ""},
		{"base with trailing dot", example, "example.com.", ""},
		{"two labels deep", example, "a.b.example.com", ""},
		{"empty label", example, ".example.com", ""},
		{"empty host", example, "", ""},
		{"port only", example, ":8080", ""},
		{"other domain", example, "acme.example.org", ""},
		{"base as prefix", example, "acme.example.com.evil.com", ""},
		{"base as prefix of a label", example, "acme.example.com-evil.com", ""},
		{"suffix without dot", example, "evilexample.com", ""},
		{"base with extra label", example, "example.com.evil", ""},
		{"KELVIN SIGN in base", example, "acme.exampl\u212a.com", ""}, // folds to "k" under Unicode rules
		{"LONG S in base", example, "acme.example.\u017fom", ""},
		{"non-ASCII label", example, "ac\u00e9me.example.com", ""},
		{"underscore", example, "ac_me.example.com", ""},
		{"leading hyphen", example, "-acme.example.com", ""},
		{"trailing hyphen", example, "acme-.example.com", ""},
		{"64-byte label", example, strings.Repeat("a", 64) + ".example.com", ""},
		{"two trailing dots", example, "acme.example.com..", ""},
		{"bad port", example, "acme.example.com:http", ""},
		{"IPv4", example, "192.0.2.1", ""},
		{"IPv4 and port", example, "192.0.2.1:80", ""},
		{"IPv6", example, "[2001:db8::1]:443", ""},
		{"reserved www", example, "www.example.com", ""},
		{"reserved upper-case", example, "API.example.com", ""},
		{"every default reserved", example, "static.example.com", ""},
		{"custom reserved", custom, "billing.example.com", ""},
		{"custom list drops defaults", custom, "www.example.com", "www"},
		{"nothing reserved", none, "admin.example.com", "admin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok, err := tt.resolver.Resolve(requestForHost(tt.host))
			want := resolve.Ref{Kind: resolve.BySlug, Value: tt.want, Source: "subdomain"}
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

// TestSubdomainDoesNotAllocate is not parallel: testing.AllocsPerRun
// refuses to run beside other tests.
func TestSubdomainDoesNotAllocate(t *testing.T) {
	s := newSubdomain(t, resolve.SubdomainConfig{BaseDomain: "localhost"})
	for _, host := range []string{"acme.localhost:8080", "acme.LOCALHOST.", "www.localhost", "a.b.localhost", "evil.com"} {
		r := requestForHost(host)
		if n := testing.AllocsPerRun(100, func() { _, _, _ = s.Resolve(r) }); n != 0 {
			t.Fatalf("Resolve(%q) makes %v allocations; want 0", host, n)
		}
	}
}

func BenchmarkSubdomainResolve(b *testing.B) {
	s := newSubdomain(b, resolve.SubdomainConfig{BaseDomain: "localhost"})
	r := requestForHost("acme.localhost:8080")
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, _ := s.Resolve(r); !ok {
			b.Fatal("not resolved")
		}
	}
}

func ExampleSubdomain() {
	s, err := resolve.NewSubdomain(resolve.SubdomainConfig{BaseDomain: "example.com"})
	if err != nil {
		panic(err)
	}
	for _, host := range []string{"acme.example.com:8443", "www.example.com", "a.b.example.com", "acme.example.com.evil.com"} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Host = host
		ref, ok, _ := s.Resolve(r)
		fmt.Printf("%s: %v %q\n", host, ok, ref.Value)
	}
	// Output:
	// acme.example.com:8443: true "acme"
	// www.example.com: false ""
	// a.b.example.com: false ""
	// acme.example.com.evil.com: false ""
}
