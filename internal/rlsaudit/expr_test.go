package rlsaudit

import (
	"testing"

	"github.com/tenantkit/tenantkit/internal/rlspolicy"
)

func TestSameExpr(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		got, want string
		same      bool
	}{
		{"predicate as PostgreSQL 15 prints it", `(tenant_id = ( SELECT (NULLIF(current_setting('tenantkit.tenant_id'::text, true), ''::text))::uuid AS "nullif"))`, rlspolicy.Predicate, true},
		{"predicate as written", rlspolicy.Predicate, rlspolicy.Predicate, true},
		{"cast outside the sub-select", `tenant_id = (SELECT nullif(current_setting('tenantkit.tenant_id', true), ''))::uuid`, rlspolicy.Predicate, true},
		{"default as PostgreSQL 15 prints it", `(NULLIF(current_setting('tenantkit.tenant_id'::text, true), ''::text))::uuid`, rlspolicy.CurrentTenant, true},
		{"not null only", `(tenant_id IS NOT NULL)`, rlspolicy.Predicate, false},
		{"true", `true`, rlspolicy.Predicate, false},
		{"no sub-select", `(tenant_id = (NULLIF(current_setting('tenantkit.tenant_id'::text, true), ''::text))::uuid)`, rlspolicy.Predicate, false},
		{"other setting", `(tenant_id = ( SELECT (NULLIF(current_setting('app.tenant'::text, true), ''::text))::uuid AS "nullif"))`, rlspolicy.Predicate, false},
		{"setting without missing_ok", `(tenant_id = ( SELECT (NULLIF(current_setting('tenantkit.tenant_id'::text), ''::text))::uuid AS "nullif"))`, rlspolicy.Predicate, false},
		{"no nullif", `(tenant_id = ( SELECT (current_setting('tenantkit.tenant_id'::text, true))::uuid AS current_setting))`, rlspolicy.Predicate, false},
		{"other column", `("Tenant_ID" = ( SELECT (NULLIF(current_setting('tenantkit.tenant_id'::text, true), ''::text))::uuid AS "nullif"))`, rlspolicy.Predicate, false},
		{"not equal", `(tenant_id <> ( SELECT (NULLIF(current_setting('tenantkit.tenant_id'::text, true), ''::text))::uuid AS "nullif"))`, rlspolicy.Predicate, false},
		{"or true", `((tenant_id = ( SELECT (NULLIF(current_setting('tenantkit.tenant_id'::text, true), ''::text))::uuid AS "nullif")) OR true)`, rlspolicy.Predicate, false},
		{"literal differs in case", `(tenant_id = ( SELECT (NULLIF(current_setting('TENANTKIT.TENANT_ID'::text, true), ''::text))::uuid AS "nullif"))`, rlspolicy.Predicate, false},
		{"empty", ``, rlspolicy.Predicate, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := sameExpr(tt.got, tt.want); got != tt.same {
				t.Fatalf("sameExpr(%q, %q) = %v, want %v\nnormalized: %q\n        vs: %q",
					tt.got, tt.want, got, tt.same, normalizeExpr(tt.got), normalizeExpr(tt.want))
			}
		})
	}
}

func TestParseBool(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]bool{
		"true": true, "TRUE": true, "t": true, "on": true, "yes": true, "y": true, "1": true,
		"false": false, "off": false, "0": false, "no": false, "o": false, "": false,
	} {
		if got := parseBool(v); got != want {
			t.Errorf("parseBool(%q) = %v, want %v", v, got, want)
		}
	}
}
