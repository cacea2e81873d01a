package resolve_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/internal/resolve"
)

func TestNewHeaderValidatesConfig(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]resolve.HeaderConfig{
		"no proxies":     {},
		"empty proxies":  {TrustedProxies: []netip.Prefix{}},
		"invalid prefix": {TrustedProxies: []netip.Prefix{{}}},
	} {
		if _, err := resolve.NewHeader(cfg); err == nil {
			t.Fatalf("%s: NewHeader succeeded; want an error", name)
		}
	}
}

func TestHeader(t *testing.T) {
	t.Parallel()
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	h, err := resolve.NewHeader(resolve.HeaderConfig{TrustedProxies: trusted})
	if err != nil {
		t.Fatal(err)
	}
	custom, err := resolve.NewHeader(resolve.HeaderConfig{Name: "x-org", TrustedProxies: trusted})
	if err != nil {
		t.Fatal(err)
	}
	slug := resolve.Ref{Kind: resolve.BySlug, Value: "acme", Source: "header"}
	tests := []struct {
		name       string
		resolver   *resolve.Header
		remoteAddr string
		header     http.Header
		want       resolve.Ref // zero: ok=false
		wantErr    bool
	}{
		{"trusted IPv4", h, "10.1.2.3:41234", http.Header{"X-Tenant-Id": {"acme"}}, slug, false},
		{"trusted slug lower-cased", h, "10.1.2.3:41234", http.Header{"X-Tenant-Id": {"ACME"}}, slug, false},
		{"trusted uuid", h, "10.1.2.3:41234", http.Header{"X-Tenant-Id": {strings.ToUpper(tenantUUID)}},
			resolve.Ref{Kind: resolve.ByID, Value: tenantUUID, Source: "header"}, false},
		{"trusted IPv6", h, "[fd12::1]:41234", http.Header{"X-Tenant-Id": {"acme"}}, slug, false},
		{"trusted IPv4-mapped IPv6", h, "[::ffff:10.1.2.3]:41234", http.Header{"X-Tenant-Id": {"acme"}}, slug, false},
		{"trusted without port", h, "10.1.2.3", http.Header{"X-Tenant-Id": {"acme"}}, slug, false},
		{"custom name", custom, "10.1.2.3:1", http.Header{"X-Org": {"acme"}}, slug, false},
		{"custom name ignores default", custom, "10.1.2.3:1", http.Header{"X-Tenant-Id": {"acme"}}, resolve.Ref{}, false},
		{"untrusted IPv4", h, "203.0.113.9:41234", http.Header{"X-Tenant-Id": {"acme"}}, resolve.Ref{}, false},
		{"untrusted IPv6", h, "[2001:db8::1]:41234", http.Header{"X-Tenant-Id": {"acme"}}, resolve.Ref{}, false},
		{"untrusted loopback", h, "127.0.0.1:41234", http.Header{"X-Tenant-Id": {"acme"}}, resolve.Ref{}, false},
		{"untrusted with two values", h, "203.0.113.9:1", http.Header{"X-Tenant-Id": {"acme", "evil"}}, resolve.Ref{}, false},
		{"unparsable RemoteAddr", h, "somewhere", http.Header{"X-Tenant-Id": {"acme"}}, resolve.Ref{}, false},
		{"empty RemoteAddr", h, "", http.Header{"X-Tenant-Id": {"acme"}}, resolve.Ref{}, false},
		{"forwarded-for does not count", h, "203.0.113.9:1",
			http.Header{"X-Tenant-Id": {"acme"}, "X-Forwarded-For": {"10.1.2.3"}}, resolve.Ref{}, false},
		{"trusted without header", h, "10.1.2.3:1", http.Header{}, resolve.Ref{}, false},
		{"trusted empty value", h, "10.1.2.3:1", http.Header{"X-Tenant-Id": {""}}, resolve.Ref{}, false},
		{"trusted two values", h, "10.1.2.3:1", http.Header{"X-Tenant-Id": {"evil", "acme"}}, resolve.Ref{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.remoteAddr
			r.Header = tt.header
			got, ok, err := tt.resolver.Resolve(r)
			switch {
			case tt.wantErr:
				if err == nil || ok {
					t.Fatalf("Resolve = %+v, %v, %v; want an error", got, ok, err)
				}
			case err != nil:
				t.Fatalf("Resolve: error %v", err)
			case ok != (tt.want != resolve.Ref{}) || got != tt.want:
				t.Fatalf("Resolve = %+v, %v; want %+v", got, ok, tt.want)
			}
		})
	}
}
