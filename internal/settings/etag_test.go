package settings_test

import (
	"testing"

	"github.com/tenantkit/tenantkit/internal/settings"
)

func TestETagRoundTrip(t *testing.T) {
	t.Parallel()
	for _, v := range []int64{0, 1, 42, 1 << 40, 9223372036854775807} {
		tag := settings.ETag(v)
		got, ok := settings.ParseETag(tag)
		if !ok || got != v {
			t.Errorf("ParseETag(ETag(%d) = %s) = %d, %v", v, tag, got, ok)
		}
	}
	if got := settings.ETag(42); got != `"v42"` {
		t.Errorf(`ETag(42) = %s, want "v42"`, got)
	}
	if got, ok := settings.ParseETag(" \"v7\"\t"); !ok || got != 7 {
		t.Errorf("ParseETag with whitespace = %d, %v", got, ok)
	}
}

func TestParseETagRejects(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		`W/"v42"`, // weak: If-Match compares strongly
		`w/"v42"`,
		`v42`,
		`"42"`,
		`"v"`,
		`"v42`,
		`v42"`,
		`"v042"`,
		`"v+42"`,
		`"v4 2"`,
		`"v42", "v43"`,
		`*`,
		`"v9223372036854775808"`,
		``,
	} {
		if v, ok := settings.ParseETag(s); ok {
			t.Errorf("ParseETag(%s) = %d, true; want false", s, v)
		}
	}
}
