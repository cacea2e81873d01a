package storage

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxKeyLen is the longest key CheckKey accepts, in bytes. S3 allows 1024
// for the whole key; the rest is left for the prefixes.
const MaxKeyLen = 900

// CheckKey reports whether key may name an object: valid UTF-8 of at most
// MaxKeyLen bytes, made of non-empty slash-separated segments, none of them
// "." or "..", with no leading slash, no backslash and no control
// character. Its errors wrap ErrInvalidKey.
func CheckKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	}
	return checkPath(key)
}

// checkPrefix is CheckKey for a List prefix: it may be empty and may end
// with a slash.
func checkPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	return checkPath(strings.TrimSuffix(prefix, "/"))
}

func checkPath(p string) error {
	switch {
	case len(p) > MaxKeyLen:
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidKey, MaxKeyLen)
	case !utf8.ValidString(p):
		return fmt.Errorf("%w: not UTF-8", ErrInvalidKey)
	case strings.HasPrefix(p, "/"):
		return fmt.Errorf("%w: %q is absolute", ErrInvalidKey, p)
	case strings.ContainsRune(p, '\\'):
		return fmt.Errorf("%w: %q holds a backslash", ErrInvalidKey, p)
	case strings.IndexFunc(p, unicode.IsControl) >= 0:
		return fmt.Errorf("%w: %q holds a control character", ErrInvalidKey, p)
	}
	for seg := range strings.SplitSeq(p, "/") {
		switch seg {
		case "":
			return fmt.Errorf("%w: %q has an empty segment", ErrInvalidKey, p)
		case ".", "..":
			return fmt.Errorf("%w: %q has a %q segment", ErrInvalidKey, p, seg)
		}
	}
	return nil
}
