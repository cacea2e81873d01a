package api_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/tenantkit/tenantkit/api"
	"github.com/tenantkit/tenantkit/internal/yamljson"
)

// TestTheJSONIsMadeFromTheYAML: openapi.json, which is embedded and
// served, is what go generate makes of openapi.yaml, which people edit.
func TestTheJSONIsMadeFromTheYAML(t *testing.T) {
	src, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want, err := yamljson.Convert(src)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(want, api.OpenAPI) {
		t.Fatal("api/openapi.json is stale: run go generate ./api")
	}
}
