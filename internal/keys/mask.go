package keys

import "strings"

const (
	maskDot = "•"
	// maskShown is how many trailing characters Mask shows, and only of a
	// secret at least maskMinLen long, so that a short secret gives away
	// nothing and a long one at most a small fraction.
	maskShown  = 4
	maskMinLen = 12
)

// Mask returns how a write-only secret is shown: four dots and its last four
// characters when it has at least 12, such as "••••3f9a", and eight dots
// otherwise, whatever its length. An empty secret gives "" (nothing is
// set).
func Mask(secret string) string {
	if secret == "" {
		return ""
	}
	r := []rune(secret)
	if len(r) < maskMinLen {
		return strings.Repeat(maskDot, 2*maskShown)
	}
	return strings.Repeat(maskDot, maskShown) + string(r[len(r)-maskShown:])
}
