package settings_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/tenantkit/tenantkit/internal/settings"
)

// restaurant compiles the embedded example schema.
func restaurant(t testing.TB) *settings.Schema {
	t.Helper()
	s, err := settings.Compile(settings.RestaurantSchema())
	if err != nil {
		t.Fatalf("Compile(RestaurantSchema()): %v", err)
	}
	return s
}

func compile(t testing.TB, doc string) *settings.Schema {
	t.Helper()
	s, err := settings.Compile([]byte(doc))
	if err != nil {
		t.Fatalf("Compile(%s): %v", doc, err)
	}
	return s
}

// requireJSONEqual compares two JSON documents by value, ignoring key order.
func requireJSONEqual(t testing.TB, want string, got []byte) {
	t.Helper()
	var w, g any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want %s: %v", want, err)
	}
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got is not JSON: %s: %v", got, err)
	}
	if !reflect.DeepEqual(w, g) {
		t.Fatalf("JSON differs\n got: %s\nwant: %s", got, want)
	}
}
