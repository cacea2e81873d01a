package contract_test

import (
	"testing"

	"github.com/tenantkit/tenantkit/api"
	"github.com/tenantkit/tenantkit/internal/contract"
)

// TestTheDocumentIsValidOpenAPI31: kin-openapi's validation of the whole
// document, the JSON Schema 2020-12 of every schema included.
func TestTheDocumentIsValidOpenAPI31(t *testing.T) {
	c, err := contract.Load(api.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	if c.Doc.OpenAPIMajorMinor() != "3.1" {
		t.Fatalf("the document is OpenAPI %s, want 3.1", c.Doc.OpenAPI)
	}
}
