package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/internal/dnstest"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// TestDomainsProvenByDNS: tenantkit domains add prints the TXT record to
// create; verify refuses in one line, naming what it found, until the
// record holds the token; list, show and remove; the platform's own
// names are refused.
func TestDomainsProvenByDNS(t *testing.T) {
	t.Parallel()
	db := tenantkittest.NewCatalog(t)
	dns, err := dnstest.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dns.Close()
	vars := map[string]string{"TENANTKIT_DATABASE_URL": db.OwnerDSN(), "TENANTKIT_DNS_RESOLVER": dns.Addr(), "TENANTKIT_BASE_DOMAIN": "platform.test"}
	if r := runCLI(t, vars, "tenants", "create", "acme", "--name", "Acme"); r.exit != exitOK {
		t.Fatalf("create: %+v", r)
	}
	r := runCLI(t, vars, "domains", "add", "acme", "shop.acme.test", "-o", "json")
	var d struct {
		TXTRecord struct{ Name, Value string } `json:"txt_record"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &d); r.exit != exitOK || err != nil || d.TXTRecord.Name != "_tenantkit-challenge.shop.acme.test" || d.TXTRecord.Value == "" {
		t.Fatalf("domains add: %+v", r)
	}
	if r := runCLI(t, vars, "domains", "add", "acme", "www.acme.test"); r.exit != exitOK ||
		!strings.Contains(r.stdout, "_tenantkit-challenge.www.acme.test. 300 IN TXT \"") {
		t.Fatalf("domains add (table): %+v", r)
	}
	for _, host := range []string{"platform.test", "acme.platform.test", "10.0.0.1", "*.acme.test"} {
		r := runCLI(t, vars, "domains", "add", "acme", host)
		requireOneErrorLine(t, r)
		if !strings.Contains(r.stderr, "host") {
			t.Errorf("domains add %s: %s", host, r.stderr)
		}
	}
	r = runCLI(t, vars, "domains", "verify", "shop.acme.test")
	requireOneErrorLine(t, r)
	if !strings.Contains(r.stderr, "no TXT record at _tenantkit-challenge.shop.acme.test") {
		t.Fatalf("verify without the record: %s", r.stderr)
	}
	dns.SetTXT("_tenantkit-challenge.shop.acme.test", "wrong")
	if r := runCLI(t, vars, "domains", "verify", "shop.acme.test"); r.exit != exitError || !strings.Contains(r.stderr, `holds "wrong"`) {
		t.Fatalf("verify with a wrong record: %+v", r)
	}
	dns.SetTXT("_tenantkit-challenge.shop.acme.test", d.TXTRecord.Value)
	if r := runCLI(t, vars, "domains", "verify", "shop.acme.test"); r.exit != exitOK || !strings.Contains(r.stdout, "Status:       verified") ||
		!strings.Contains(r.stdout, "Resolves:     true") {
		t.Fatalf("verify: %+v", r)
	}
	r = runCLI(t, vars, "domains", "list", "acme")
	if r.exit != exitOK || !strings.Contains(r.stdout, "shop.acme.test  verified  true") || !strings.Contains(r.stdout, "www.acme.test   pending   false") {
		t.Fatalf("list: %+v", r)
	}
	if r := runCLI(t, vars, "domains", "show", "www.acme.test"); r.exit != exitOK || !strings.Contains(r.stdout, "Certificate:  pending") {
		t.Fatalf("show: %+v", r)
	}
	if r := runCLI(t, vars, "domains", "remove", "www.acme.test"); r.exit != exitOK || r.stdout != "removed www.acme.test\n" {
		t.Fatalf("remove: %+v", r)
	}
	r = runCLI(t, vars, "domains", "show", "www.acme.test")
	requireOneErrorLine(t, r)
}
