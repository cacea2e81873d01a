package bus_test

import (
	"reflect"
	"testing"

	"github.com/tenantkit/tenantkit/internal/bus"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		msg  bus.Message
		json string
	}{
		{"empty", bus.Message{}, `{}`},
		{"tenant", bus.Message{Tenant: "0b7e3c0e-3f4e-4c55-9a39-6f7f2f0c1a11"}, `{"tenant":"0b7e3c0e-3f4e-4c55-9a39-6f7f2f0c1a11"}`},
		{"slugs and hosts", bus.Message{Tenant: "x", Slugs: []string{"new", "old"}, Hosts: []string{"a.test"}}, `{"tenant":"x","slugs":["new","old"],"hosts":["a.test"]}`},
		{"all", bus.Message{All: true}, `{"all":true}`},
		{"unicode", bus.Message{Hosts: []string{"bücher.test"}}, `{"hosts":["bücher.test"]}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.msg.Encode(); got != tt.json {
				t.Errorf("Encode() = %s, want %s", got, tt.json)
			}
			got, err := bus.Decode(tt.json)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.msg) {
				t.Errorf("Decode(%s) = %+v, want %+v", tt.json, got, tt.msg)
			}
		})
	}
}

func TestDecodeRejectsGarbage(t *testing.T) {
	t.Parallel()
	for _, payload := range []string{"", "not json", `{"tenant":`, `{"slugs":"acme"}`, `[]`} {
		if _, err := bus.Decode(payload); err == nil {
			t.Errorf("Decode(%q) succeeded, want an error", payload)
		}
	}
}
