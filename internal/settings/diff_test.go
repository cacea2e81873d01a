package settings_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/tenantkit/tenantkit/internal/settings"
)

func TestDiff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		before, after string
		want          []settings.Change
	}{
		{name: "same", before: `{"a":1,"n":{"b":[1,2]}}`, after: `{"n":{"b":[1,2]},"a":1}`, want: nil},
		{name: "numbers compare by value", before: `{"rate":0.10}`, after: `{"rate":0.1}`, want: nil},
		{name: "empty is the empty object", before: ``, after: `{}`, want: nil},
		{
			name:   "set, changed, removed",
			before: `{"currency":"USD","tax_rate":0.1}`,
			after:  `{"currency":"EUR","timezone":"Europe/Paris"}`,
			want: []settings.Change{
				{Pointer: "/currency", Before: "USD", After: "EUR"},
				{Pointer: "/tax_rate", Before: 0.1, After: nil},
				{Pointer: "/timezone", Before: nil, After: "Europe/Paris"},
			},
		},
		{
			name:   "nested objects are descended",
			before: `{"notifications":{"email_digest":"weekly","webhook_url":"https://a.test"}}`,
			after:  `{"notifications":{"email_digest":"daily","webhook_url":"https://a.test","slack_webhook_url":"https://hooks.slack.com/x"}}`,
			want: []settings.Change{
				{Pointer: "/notifications/email_digest", Before: "weekly", After: "daily"},
				{Pointer: "/notifications/slack_webhook_url", Before: nil, After: "https://hooks.slack.com/x"},
			},
		},
		{
			name:   "an object that appears is one change",
			before: `{}`,
			after:  `{"notifications":{"email_digest":"daily"}}`,
			want:   []settings.Change{{Pointer: "/notifications", After: map[string]any{"email_digest": "daily"}}},
		},
		{
			name:   "arrays are compared whole",
			before: `{"custom_fields":[{"name":"a","type":"text"}]}`,
			after:  `{"custom_fields":[{"name":"a","type":"date"}]}`,
			want: []settings.Change{{
				Pointer: "/custom_fields",
				Before:  []any{map[string]any{"name": "a", "type": "text"}},
				After:   []any{map[string]any{"name": "a", "type": "date"}},
			}},
		},
		{
			name:   "type change",
			before: `{"n":{"a":1}}`,
			after:  `{"n":"flat"}`,
			want:   []settings.Change{{Pointer: "/n", Before: map[string]any{"a": 1.0}, After: "flat"}},
		},
		{
			name:   "pointers escape and sort token by token",
			before: `{"a/b":1,"a":{"b":1},"a-c":1,"m~n":1}`,
			after:  `{"a/b":2,"a":{"b":2},"a-c":2,"m~n":2}`,
			want: []settings.Change{
				{Pointer: "/a/b", Before: 1.0, After: 2.0},
				{Pointer: "/a-c", Before: 1.0, After: 2.0},
				{Pointer: "/a~1b", Before: 1.0, After: 2.0},
				{Pointer: "/m~0n", Before: 1.0, After: 2.0},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := settings.Diff([]byte(tt.before), []byte(tt.after))
			if err != nil {
				t.Fatalf("Diff: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Diff =\n%#v\nwant\n%#v", got, tt.want)
			}
		})
	}
}

func TestDiffRejectsBadJSON(t *testing.T) {
	t.Parallel()
	if _, err := settings.Diff([]byte(`{`), []byte(`{}`)); !errors.Is(err, settings.ErrInvalidJSON) {
		t.Errorf("Diff(bad before) = %v, want ErrInvalidJSON", err)
	}
	if _, err := settings.Diff([]byte(`{}`), []byte(`{} x`)); !errors.Is(err, settings.ErrInvalidJSON) {
		t.Errorf("Diff(bad after) = %v, want ErrInvalidJSON", err)
	}
}
