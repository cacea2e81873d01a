package settings_test

import (
	"errors"
	"reflect"
	"sync"
	"testing"

	"github.com/tenantkit/tenantkit/internal/settings"
)

// restaurantValues is a restaurant tenant's settings as a handler sees them.
func restaurantValues(t testing.TB) *settings.Values {
	t.Helper()
	read, err := restaurant(t).WithDefaults([]byte(`{"currency":"EUR","tax_rate":0.2,
		"notifications":{"webhook_url":"https://example.com/h"},
		"custom_fields":[{"name":"Allergies","type":"text"}],"odd/key~":"odd"}`))
	if err != nil {
		t.Fatal(err)
	}
	v, err := settings.NewValues(read)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestValuesLookup(t *testing.T) {
	t.Parallel()
	v := restaurantValues(t)
	tests := []struct {
		pointer string
		want    any
		found   bool
	}{
		{"/currency", "EUR", true},
		{"/timezone", "UTC", true},
		{"/tax_rate", 0.2, true},
		{"/notifications/email_digest", "weekly", true},
		{"/notifications/webhook_url", "https://example.com/h", true},
		{"/custom_fields/0/name", "Allergies", true},
		{"/custom_fields/0/required", false, true},
		{"/odd~1key~0", "odd", true},
		{"/notifications", map[string]any{"email_digest": "weekly", "webhook_url": "https://example.com/h"}, true},
		{"/notifications/slack_webhook_url", nil, false},
		{"/custom_fields/1", nil, false},
		{"/custom_fields/00", nil, false},
		{"/custom_fields/-1", nil, false},
		{"/currency/x", nil, false},
		{"currency", nil, false},
		{"/nope", nil, false},
	}
	for _, tt := range tests {
		got, found := v.Lookup(tt.pointer)
		if found != tt.found || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Lookup(%q) = %#v, %v; want %#v, %v", tt.pointer, got, found, tt.want, tt.found)
		}
	}
	if root, ok := v.Lookup(""); !ok || root.(map[string]any)["currency"] != "EUR" {
		t.Errorf(`Lookup("") = %v, %v; want the whole document`, root, ok)
	}
}

func TestValuesTypedGetters(t *testing.T) {
	t.Parallel()
	v := restaurantValues(t)
	if got := v.String("/notifications/email_digest"); got != "weekly" {
		t.Errorf("String(email_digest) = %q", got)
	}
	for _, p := range []string{"/tax_rate", "/notifications", "/nope", "/custom_fields/0/required"} {
		if got := v.String(p); got != "" {
			t.Errorf("String(%q) = %q, want \"\" for absent or not a string", p, got)
		}
	}
	if got := v.Float64("/tax_rate"); got != 0.2 {
		t.Errorf("Float64(tax_rate) = %v", got)
	}
	if got := v.Float64("/currency"); got != 0 {
		t.Errorf("Float64(currency) = %v, want 0", got)
	}
	if got := v.Bool("/custom_fields/0/required"); got {
		t.Errorf("Bool(required) = true, want the default false")
	}
	if got := v.Bool("/currency"); got {
		t.Errorf("Bool(currency) = true, want false")
	}
}

func TestValuesDecode(t *testing.T) {
	t.Parallel()
	v := restaurantValues(t)
	var got struct {
		Currency      string  `json:"currency"`
		TaxRate       float64 `json:"tax_rate"`
		Timezone      string  `json:"timezone"`
		Notifications struct {
			EmailDigest string `json:"email_digest"`
		} `json:"notifications"`
		CustomFields []struct {
			Name     string `json:"name"`
			Required bool   `json:"required"`
		} `json:"custom_fields"`
	}
	if err := v.Decode(&got); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if got.Currency != "EUR" || got.TaxRate != 0.2 || got.Timezone != "UTC" || got.Notifications.EmailDigest != "weekly" ||
		len(got.CustomFields) != 1 || got.CustomFields[0].Name != "Allergies" {
		t.Fatalf("Decode = %+v", got)
	}
}

func TestNewValuesRejects(t *testing.T) {
	t.Parallel()
	if _, err := settings.NewValues([]byte(`[1]`)); !errors.Is(err, settings.ErrNotObject) {
		t.Errorf("NewValues([1]) = %v, want ErrNotObject", err)
	}
	if _, err := settings.NewValues([]byte(`{`)); !errors.Is(err, settings.ErrInvalidJSON) {
		t.Errorf("NewValues({) = %v, want ErrInvalidJSON", err)
	}
}

// TestValuesImmutable: neither the caller's buffer nor what Lookup and Raw
// hand out can change the values other requests read.
func TestValuesImmutable(t *testing.T) {
	t.Parallel()
	buf := []byte(`{"a":"x","n":{"b":"y"},"l":["z"]}`)
	v, err := settings.NewValues(buf)
	if err != nil {
		t.Fatal(err)
	}
	copy(buf, `{"a":"Q"`)
	raw := v.Raw()
	raw[6] = 'R'
	n, _ := v.Lookup("/n")
	n.(map[string]any)["b"] = "changed"
	l, _ := v.Lookup("/l")
	l.([]any)[0] = "changed"

	if got := string(v.Raw()); got != `{"a":"x","n":{"b":"y"},"l":["z"]}` {
		t.Errorf("Raw() = %s after changing copies", got)
	}
	if got := v.String("/n/b"); got != "y" {
		t.Errorf("String(/n/b) = %q after changing Lookup's map", got)
	}
	if got := v.String("/l/0"); got != "z" {
		t.Errorf("String(/l/0) = %q after changing Lookup's slice", got)
	}
}

// TestValuesConcurrentReads: one Values serves every request of a tenant.
// Run with -race; readers also change what Lookup returns to them.
func TestValuesConcurrentReads(t *testing.T) {
	t.Parallel()
	v := restaurantValues(t)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 200 {
				if got := v.String("/notifications/email_digest"); got != "weekly" {
					t.Errorf("String = %q", got)
					return
				}
				n, ok := v.Lookup("/notifications")
				if !ok {
					t.Error("Lookup(/notifications) not found")
					return
				}
				n.(map[string]any)["email_digest"] = "mine"
				var s struct {
					Currency string `json:"currency"`
				}
				if err := v.Decode(&s); err != nil || s.Currency != "EUR" {
					t.Errorf("Decode = %+v, %v", s, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestValuesStringDoesNotAllocate(t *testing.T) {
	v := restaurantValues(t)
	allocs := testing.AllocsPerRun(100, func() {
		if v.String("/notifications/email_digest") != "weekly" {
			t.Fatal("wrong value")
		}
	})
	if allocs != 0 {
		t.Fatalf("String allocates %v times per call, want 0", allocs)
	}
}

func BenchmarkValuesString(b *testing.B) {
	v := restaurantValues(b)
	for b.Loop() {
		if v.String("/notifications/email_digest") != "weekly" {
			b.Fatal("wrong value")
		}
	}
}

func BenchmarkValuesStringTopLevel(b *testing.B) {
	v := restaurantValues(b)
	for b.Loop() {
		if v.String("/currency") != "EUR" {
			b.Fatal("wrong value")
		}
	}
}

func BenchmarkWithDefaults(b *testing.B) {
	s := restaurant(b)
	stored := []byte(`{"currency":"EUR","notifications":{"webhook_url":"https://example.com/h"}}`)
	for b.Loop() {
		if _, err := s.WithDefaults(stored); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidate(b *testing.B) {
	s := restaurant(b)
	doc := []byte(`{"currency":"EUR","tax_rate":0.2,"notifications":{"webhook_url":"https://example.com/h"},"custom_fields":[{"name":"a","type":"text"}]}`)
	for b.Loop() {
		if err := s.Validate(doc); err != nil {
			b.Fatal(err)
		}
	}
}
