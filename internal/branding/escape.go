package branding

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/tdewolff/parse/v2"
	"github.com/tdewolff/parse/v2/css"
)

// This file holds the CSS escaping rules of css-syntax-3 §4.3.7 (decoding)
// and §9 (serialization). Every judgement is made on decoded text, and every
// byte written is produced by an encoder here, so "u\72l(" is judged as url(
// and "<" can only ever leave as "\3c ".

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isCSSSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'
}

// validCodePoint maps what CSS forbids in an escape to U+FFFD.
func validCodePoint(r rune) rune {
	if r == 0 || 0xD800 <= r && r <= 0xDFFF || r > unicode.MaxRune {
		return utf8.RuneError
	}
	return r
}

// unescape decodes CSS escapes. In strings a backslash before a newline is a
// line continuation and a trailing backslash vanishes; elsewhere both decode
// to U+FFFD.
func unescape(s string, inString bool) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			i++
			continue
		}
		i++
		i += unescapeOne(&b, s[i:], inString)
	}
	return b.String()
}

// unescapeOne decodes the escape whose body starts s and reports how many
// bytes of s it used.
func unescapeOne(b *strings.Builder, s string, inString bool) int {
	switch {
	case s == "":
		if !inString {
			b.WriteRune(utf8.RuneError)
		}
		return 0
	case isHex(s[0]):
		n := 0
		for n < len(s) && n < 6 && isHex(s[n]) {
			n++
		}
		cp, _ := strconv.ParseUint(s[:n], 16, 32)
		b.WriteRune(validCodePoint(rune(cp)))
		if strings.HasPrefix(s[n:], "\r\n") {
			return n + 2
		}
		if n < len(s) && isCSSSpace(s[n]) {
			n++
		}
		return n
	case s[0] == '\n' || s[0] == '\r' || s[0] == '\f':
		if !inString {
			b.WriteRune(utf8.RuneError)
		}
		if strings.HasPrefix(s, "\r\n") {
			return 2
		}
		return 1
	}
	_, n := utf8.DecodeRuneInString(s)
	b.WriteString(s[:n])
	return n
}

// unquote decodes a string token, quotes included. closed is false when the
// string ran to the end of input, and end is the byte offset after it.
func unquote(s string) (v string, closed bool, end int) {
	q := s[0]
	var b strings.Builder
	for i := 1; i < len(s); {
		switch s[i] {
		case q:
			return b.String(), true, i + 1
		case '\\':
			i++
			i += unescapeOne(&b, s[i:], true)
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String(), false, len(s)
}

func hexEscape(b *strings.Builder, r rune) {
	b.WriteByte('\\')
	b.WriteString(strconv.FormatInt(int64(r), 16))
	b.WriteByte(' ')
}

func isNameRune(r rune) bool {
	switch {
	case r < 0x80:
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_' || r == '-'
	default:
		return unicode.IsLetter(r) || unicode.IsDigit(r)
	}
}

// encodeName serializes the name part of a hash token (after '#').
func encodeName(v string) string {
	var b strings.Builder
	for _, r := range v {
		if isNameRune(r) {
			b.WriteRune(r)
		} else {
			hexEscape(&b, r)
		}
	}
	return b.String()
}

// encodeIdent serializes v so that it lexes back as one identifier with the
// value v. Anything but name characters is hex-escaped, including every
// '<', '>', quote, backslash, brace, semicolon and control character.
func encodeIdent(v string) string {
	var b strings.Builder
	for i, r := range v {
		digit := '0' <= r && r <= '9'
		switch {
		case digit && (i == 0 || i == 1 && v[0] == '-'):
			hexEscape(&b, r) // an ident cannot start like a number
		case r == '-' && v == "-":
			hexEscape(&b, r)
		case isNameRune(r):
			b.WriteRune(r)
		default:
			hexEscape(&b, r)
		}
	}
	return b.String()
}

// quoteString serializes v as a double-quoted CSS string. Quotes,
// backslashes, '<', '>' and everything unprintable are hex-escaped, so the
// result can sit inside a <style> element and cannot end the string early.
func quoteString(v string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range v {
		if r == '"' || r == '\\' || r == '<' || r == '>' || !unicode.IsPrint(r) {
			hexEscape(&b, r)
		} else {
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// cssWriter joins serialized tokens. Dropping comments and declarations can
// put two tokens side by side that were apart in the input ("u/**/rl(" →
// "u", "rl("), so before each token it re-lexes the join and inserts a space
// where the two would otherwise fuse into something else.
type cssWriter struct {
	b    strings.Builder
	prev string
}

func (w *cssWriter) token(s string) {
	if s == " " && (w.prev == " " || w.prev == "") {
		return
	}
	if w.prev != "" && w.prev != " " && s != " " && fuses(w.prev, s) {
		w.b.WriteByte(' ')
	}
	w.b.WriteString(s)
	w.prev = s
}

// fuses reports whether a followed by b lexes as something other than a
// then b.
func fuses(a, b string) bool {
	// Fast path: a token ending in a bracket, quote or punctuation is
	// complete, and one starting with those cannot extend what precedes it.
	if strings.IndexByte(`(){}[];:,"`, a[len(a)-1]) >= 0 || strings.IndexByte(`{};:,)]["`, b[0]) >= 0 {
		return false
	}
	l := css.NewLexer(parse.NewInputString(a + b))
	_, data := l.Next()
	return len(data) != len(a)
}
