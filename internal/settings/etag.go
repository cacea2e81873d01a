package settings

import (
	"strconv"
	"strings"
)

// ETag returns the strong entity tag for a settings version: `"v42"`.
func ETag(version int64) string {
	return `"v` + strconv.FormatInt(version, 10) + `"`
}

// ParseETag returns the version in an entity tag made by ETag. Weak tags
// (W/"v42") are rejected: If-Match compares strongly (RFC 9110 §13.1.1), and
// a weak tag never matches a strong one. Only the canonical form is accepted
// ("v042" is not "v42"). Lists and "*" in If-Match are the caller's to split
// and handle.
func ParseETag(s string) (int64, bool) {
	s = strings.Trim(s, " \t")
	inner, ok := strings.CutPrefix(s, `"v`)
	if !ok {
		return 0, false
	}
	digits, ok := strings.CutSuffix(inner, `"`)
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || strconv.FormatInt(v, 10) != digits {
		return 0, false
	}
	return v, true
}
