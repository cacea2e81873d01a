package settings_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/tenantkit/tenantkit/internal/settings"
)

func TestWithDefaults(t *testing.T) {
	t.Parallel()
	s := restaurant(t)
	tests := []struct {
		name   string
		stored string
		want   string
	}{
		{
			name:   "nil is the empty object",
			stored: "",
			want: `{"timezone":"UTC","locale":"en-US","currency":"USD","order_cutoff_time":"21:00",
				"tax_rate":0,"notifications":{"email_digest":"weekly"},"custom_fields":[]}`,
		},
		{
			name:   "empty object",
			stored: `{}`,
			want: `{"timezone":"UTC","locale":"en-US","currency":"USD","order_cutoff_time":"21:00",
				"tax_rate":0,"notifications":{"email_digest":"weekly"},"custom_fields":[]}`,
		},
		{
			name:   "stored values win, the rest is filled",
			stored: `{"timezone":"Europe/Paris","currency":"EUR","tax_rate":0.2}`,
			want: `{"timezone":"Europe/Paris","locale":"en-US","currency":"EUR","order_cutoff_time":"21:00",
				"tax_rate":0.2,"notifications":{"email_digest":"weekly"},"custom_fields":[]}`,
		},
		{
			name:   "stored zero values win over defaults",
			stored: `{"tax_rate":0,"timezone":"","custom_fields":[]}`,
			want: `{"timezone":"","locale":"en-US","currency":"USD","order_cutoff_time":"21:00",
				"tax_rate":0,"notifications":{"email_digest":"weekly"},"custom_fields":[]}`,
		},
		{
			name:   "partially filled nested object gets its missing defaults",
			stored: `{"notifications":{"webhook_url":"https://example.com/hook?a=1&b=2"}}`,
			want: `{"timezone":"UTC","locale":"en-US","currency":"USD","order_cutoff_time":"21:00","tax_rate":0,
				"notifications":{"email_digest":"weekly","webhook_url":"https://example.com/hook?a=1&b=2"},"custom_fields":[]}`,
		},
		{
			name:   "nested stored value wins",
			stored: `{"notifications":{"email_digest":"never"}}`,
			want: `{"timezone":"UTC","locale":"en-US","currency":"USD","order_cutoff_time":"21:00","tax_rate":0,
				"notifications":{"email_digest":"never"},"custom_fields":[]}`,
		},
		{
			name:   "array items through $ref get their defaults",
			stored: `{"custom_fields":[{"name":"Allergies","type":"text"},{"name":"Table","type":"number","required":true}]}`,
			want: `{"timezone":"UTC","locale":"en-US","currency":"USD","order_cutoff_time":"21:00","tax_rate":0,
				"notifications":{"email_digest":"weekly"},
				"custom_fields":[{"name":"Allergies","type":"text","required":false},{"name":"Table","type":"number","required":true}]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := s.WithDefaults([]byte(tt.stored))
			if err != nil {
				t.Fatalf("WithDefaults: %v", err)
			}
			requireJSONEqual(t, tt.want, got)
		})
	}
}

// TestWithDefaultsNoMigration is the reason defaults are applied on read: a
// property the platform adds later shows up, with its default, in settings
// stored before it existed.
func TestWithDefaultsNoMigration(t *testing.T) {
	t.Parallel()
	v1 := compile(t, `{"type":"object","properties":{"currency":{"type":"string","default":"USD"}}}`)
	v2 := compile(t, `{"type":"object","properties":{
		"currency":{"type":"string","default":"USD"},
		"tipping":{"type":"object","properties":{
			"enabled":{"type":"boolean","default":true},
			"presets":{"type":"array","items":{"type":"number"},"default":[0.1,0.15,0.2]}}}}}`)
	stored := []byte(`{"currency":"EUR"}`)
	if err := v1.Validate(stored); err != nil {
		t.Fatalf("stored doc invalid under v1: %v", err)
	}
	got, err := v2.WithDefaults(stored)
	if err != nil {
		t.Fatalf("WithDefaults: %v", err)
	}
	requireJSONEqual(t, `{"currency":"EUR","tipping":{"enabled":true,"presets":[0.1,0.15,0.2]}}`, got)
}

func TestWithDefaultsSchemaShapes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		schema string
		stored string
		want   string
	}{
		{
			name: "$ref to $defs, default on the target",
			schema: `{"type":"object","properties":{"hours":{"$ref":"#/$defs/hours"}},
				"$defs":{"hours":{"type":"object","properties":{"open":{"$ref":"#/$defs/time"},"close":{"type":"string","default":"22:00"}}},
				"time":{"type":"string","default":"09:00"}}}`,
			stored: `{}`,
			want:   `{"hours":{"open":"09:00","close":"22:00"}}`,
		},
		{
			name:   "default beside $ref wins over the target's",
			schema: `{"type":"object","properties":{"open":{"$ref":"#/$defs/time","default":"10:00"}},"$defs":{"time":{"type":"string","default":"09:00"}}}`,
			stored: `{}`,
			want:   `{"open":"10:00"}`,
		},
		{
			name:   "allOf members count",
			schema: `{"type":"object","allOf":[{"properties":{"a":{"type":"integer","default":1}}}],"properties":{"b":{"type":"integer","default":2}}}`,
			stored: `{}`,
			want:   `{"a":1,"b":2}`,
		},
		{
			name:   "object without defaults below is not created",
			schema: `{"type":"object","properties":{"n":{"type":"object","properties":{"x":{"type":"string"}}}}}`,
			stored: `{}`,
			want:   `{}`,
		},
		{
			name:   "object default is filled further from its schema",
			schema: `{"type":"object","properties":{"n":{"type":"object","default":{"x":"d"},"properties":{"x":{"type":"string"},"y":{"type":"string","default":"y"}}}}}`,
			stored: `{}`,
			want:   `{"n":{"x":"d","y":"y"}}`,
		},
		{
			name: "recursive schema creates one level, not forever",
			schema: `{"type":"object","$ref":"#/$defs/node","$defs":{"node":{"type":"object",
				"properties":{"label":{"type":"string","default":"root"},"child":{"$ref":"#/$defs/node"}}}}}`,
			stored: `{}`,
			want:   `{"label":"root","child":{"label":"root"}}`,
		},
		{
			name: "recursive schema fills every stored level",
			schema: `{"type":"object","$ref":"#/$defs/node","$defs":{"node":{"type":"object",
				"properties":{"label":{"type":"string","default":"x"},"child":{"$ref":"#/$defs/node"}}}}}`,
			stored: `{"child":{"child":{"child":{"label":"deep"}}}}`,
			want:   `{"label":"x","child":{"label":"x","child":{"label":"x","child":{"label":"deep","child":{"label":"x"}}}}}`,
		},
		{
			name:   "big numbers pass through exactly",
			schema: `{"type":"object","properties":{"limit":{"type":"integer","default":9007199254740993}}}`,
			stored: `{"other":12345678901234567890}`,
			want:   `{"limit":9007199254740993,"other":12345678901234567890}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := compile(t, tt.schema)
			got, err := s.WithDefaults([]byte(tt.stored))
			if err != nil {
				t.Fatalf("WithDefaults: %v", err)
			}
			if tt.name == "big numbers pass through exactly" {
				// requireJSONEqual decodes to float64, which would hide rounding.
				if string(got) != tt.want {
					t.Fatalf("got %s, want %s", got, tt.want)
				}
				return
			}
			requireJSONEqual(t, tt.want, got)
		})
	}
}

// TestWithDefaultsConcurrent guards against handing out the schema's own
// default values: filling one document must not write into the schema, which
// every request shares. Run with -race.
func TestWithDefaultsConcurrent(t *testing.T) {
	t.Parallel()
	s := compile(t, `{"type":"object","properties":{"n":{"type":"object","default":{"x":"d"},"properties":{"y":{"type":"string","default":"y"}}}}}`)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				got, err := s.WithDefaults([]byte(`{}`))
				if err != nil {
					t.Error(err)
					return
				}
				if want := `{"n":{"x":"d","y":"y"}}`; string(got) != want {
					t.Errorf("got %s, want %s", got, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestWithDefaultsCopiesDefaults guards against handing out the schema's own
// default values: two properties that share one default object through $ref
// must each get their own copy, filled from their own schema.
func TestWithDefaultsCopiesDefaults(t *testing.T) {
	t.Parallel()
	s := compile(t, `{"type":"object","properties":{
		"a":{"$ref":"#/$defs/box","properties":{"p":{"type":"integer","default":1}}},
		"b":{"$ref":"#/$defs/box","properties":{"q":{"type":"integer","default":2}}}},
		"$defs":{"box":{"type":"object","default":{}}}}`)
	for range 2 {
		got, err := s.WithDefaults(nil)
		if err != nil {
			t.Fatal(err)
		}
		requireJSONEqual(t, `{"a":{"p":1},"b":{"q":2}}`, got)
	}
}

func TestWithDefaultsRejects(t *testing.T) {
	t.Parallel()
	s := restaurant(t)
	for _, stored := range []string{`[]`, `"x"`, `null`} {
		if _, err := s.WithDefaults([]byte(stored)); !errors.Is(err, settings.ErrNotObject) {
			t.Errorf("WithDefaults(%s) = %v, want ErrNotObject", stored, err)
		}
	}
	for _, stored := range []string{`{`, `{} {}`, `{"a":}`} {
		if _, err := s.WithDefaults([]byte(stored)); !errors.Is(err, settings.ErrInvalidJSON) {
			t.Errorf("WithDefaults(%s) = %v, want ErrInvalidJSON", stored, err)
		}
	}
}
