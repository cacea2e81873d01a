package branding

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

const (
	maxFontFamilies  = 10
	maxFontNameRunes = 64
	maxFontBytes     = 512
)

var genericFamilies = map[string]bool{
	"serif": true, "sans-serif": true, "monospace": true, "cursive": true,
	"fantasy": true, "system-ui": true, "ui-serif": true, "ui-sans-serif": true,
	"ui-monospace": true, "ui-rounded": true, "math": true, "emoji": true,
	"fangsong": true,
}

// ParseFontFamily parses a font-family list such as `"Inter", Arial, sans-serif`
// and returns it in canonical form: family names double-quoted, generic
// families bare and lowercase, joined by ", ". A name is letters, digits,
// spaces and hyphens, quoted or not; a quoted generic keyword stays a name,
// as in CSS. An empty list returns "".
func ParseFontFamily(s string) (string, error) {
	if hasControl(s) {
		return "", errors.New("contains a control character")
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	if len(s) > maxFontBytes {
		return "", fmt.Errorf("font family list is longer than %d bytes", maxFontBytes)
	}
	items := strings.Split(s, ",")
	if len(items) > maxFontFamilies {
		return "", fmt.Errorf("more than %d font families", maxFontFamilies)
	}
	out := make([]string, len(items))
	for i, item := range items {
		f, err := fontFamily(strings.TrimSpace(item))
		if err != nil {
			return "", err
		}
		out[i] = f
	}
	return strings.Join(out, ", "), nil
}

func fontFamily(item string) (string, error) {
	if g := strings.ToLower(item); genericFamilies[g] {
		return g, nil
	}
	if n := len(item); n >= 2 && (item[0] == '"' || item[0] == '\'') && item[n-1] == item[0] {
		item = item[1 : n-1]
	}
	if err := checkFontName(item); err != nil {
		return "", err
	}
	return quoteString(strings.Join(strings.Fields(item), " ")), nil
}

func checkFontName(name string) error {
	if strings.TrimLeft(name, " -") == "" {
		return errors.New("empty font family name")
	}
	if utf8.RuneCountInString(name) > maxFontNameRunes {
		return fmt.Errorf("font family name longer than %d characters", maxFontNameRunes)
	}
	for _, r := range name {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != ' ' && r != '-' {
			return fmt.Errorf("font family name %q may hold only letters, digits, spaces and hyphens", truncate(name))
		}
	}
	return nil
}

// truncate shortens a hostile value before it is quoted into a message.
func truncate(s string) string {
	const n = 40
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, unicode.IsControl)
}
