package settings_test

import (
	"errors"
	"testing"

	"github.com/tenantkit/tenantkit/internal/settings"
)

// TestMergePatchRFC7396 runs RFC 7396 appendix A. The four cases whose patch
// is not an object replace the whole document there; settings refuse them.
func TestMergePatchRFC7396(t *testing.T) {
	t.Parallel()
	tests := []struct {
		original, patch, result string
		notObject               bool
	}{
		{original: `{"a":"b"}`, patch: `{"a":"c"}`, result: `{"a":"c"}`},
		{original: `{"a":"b"}`, patch: `{"b":"c"}`, result: `{"a":"b","b":"c"}`},
		{original: `{"a":"b"}`, patch: `{"a":null}`, result: `{}`},
		{original: `{"a":"b","b":"c"}`, patch: `{"a":null}`, result: `{"b":"c"}`},
		{original: `{"a":["b"]}`, patch: `{"a":"c"}`, result: `{"a":"c"}`},
		{original: `{"a":"c"}`, patch: `{"a":["b"]}`, result: `{"a":["b"]}`},
		{original: `{"a":{"b":"c"}}`, patch: `{"a":{"b":"d","c":null}}`, result: `{"a":{"b":"d"}}`},
		{original: `{"a":[{"b":"c"}]}`, patch: `{"a":[1]}`, result: `{"a":[1]}`},
		{original: `["a","b"]`, patch: `["c","d"]`, notObject: true},
		{original: `{"a":"b"}`, patch: `["c"]`, notObject: true},
		{original: `{"a":"foo"}`, patch: `null`, notObject: true},
		{original: `{"a":"foo"}`, patch: `"bar"`, notObject: true},
		{original: `{"e":null}`, patch: `{"a":1}`, result: `{"e":null,"a":1}`},
		{original: `[1,2]`, patch: `{"a":"b","c":null}`, result: `{"a":"b"}`},
		{original: `{}`, patch: `{"a":{"bb":{"ccc":null}}}`, result: `{"a":{"bb":{}}}`},
		// Beyond the appendix: arrays are values, nulls inside them stay
		// (github.com/evanphx/json-patch/v5 v5.9.11 drops the inner one).
		{original: `{}`, patch: `{"a":[null,{"x":null}]}`, result: `{"a":[null,{"x":null}]}`},
		// An empty stored document is the empty object.
		{original: ``, patch: `{"a":{"b":null,"c":1}}`, result: `{"a":{"c":1}}`},
	}
	for _, tt := range tests {
		t.Run(tt.original+"+"+tt.patch, func(t *testing.T) {
			t.Parallel()
			got, err := settings.MergePatch([]byte(tt.original), []byte(tt.patch))
			if tt.notObject {
				if !errors.Is(err, settings.ErrNotObject) {
					t.Fatalf("MergePatch = %s, %v; want ErrNotObject", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("MergePatch: %v", err)
			}
			requireJSONEqual(t, tt.result, got)
		})
	}
}

// TestMergePatchNullRevertsToDefault is the round trip a tenant admin sees:
// set a value, then clear it with null, and the default is back.
func TestMergePatchNullRevertsToDefault(t *testing.T) {
	t.Parallel()
	s := restaurant(t)
	stored, err := settings.MergePatch(nil, []byte(`{"currency":"EUR","notifications":{"email_digest":"daily"}}`))
	if err != nil {
		t.Fatal(err)
	}
	read, err := s.WithDefaults(stored)
	if err != nil {
		t.Fatal(err)
	}
	v, err := settings.NewValues(read)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.String("/currency"); got != "EUR" {
		t.Fatalf("currency after set = %q, want EUR", got)
	}
	stored, err = settings.MergePatch(stored, []byte(`{"currency":null,"notifications":{"email_digest":null}}`))
	if err != nil {
		t.Fatal(err)
	}
	requireJSONEqual(t, `{"notifications":{}}`, stored)
	if err := s.Validate(stored); err != nil {
		t.Fatalf("Validate after clearing: %v", err)
	}
	read, err = s.WithDefaults(stored)
	if err != nil {
		t.Fatal(err)
	}
	v, err = settings.NewValues(read)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.String("/currency"); got != "USD" {
		t.Errorf("currency after null = %q, want the default USD", got)
	}
	if got := v.String("/notifications/email_digest"); got != "weekly" {
		t.Errorf("email_digest after null = %q, want the default weekly", got)
	}
}

func TestMergePatchRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		stored, patch string
		want          error
	}{
		{stored: `{}`, patch: ``, want: settings.ErrInvalidJSON},
		{stored: `{}`, patch: `{"a":`, want: settings.ErrInvalidJSON},
		{stored: `{}`, patch: `{} {}`, want: settings.ErrInvalidJSON},
		{stored: `{`, patch: `{}`, want: settings.ErrInvalidJSON},
		{stored: `{}`, patch: `42`, want: settings.ErrNotObject},
	}
	for _, tt := range tests {
		if got, err := settings.MergePatch([]byte(tt.stored), []byte(tt.patch)); !errors.Is(err, tt.want) {
			t.Errorf("MergePatch(%q, %q) = %s, %v; want %v", tt.stored, tt.patch, got, err, tt.want)
		}
	}
}

func TestMergePatchKeepsNumbersAndURLs(t *testing.T) {
	t.Parallel()
	got, err := settings.MergePatch([]byte(`{"big":12345678901234567890,"rate":0.10}`), []byte(`{"url":"https://x.test/?a=1&b=<2>"}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"big":12345678901234567890,"rate":0.10,"url":"https://x.test/?a=1&b=<2>"}`; string(got) != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}
