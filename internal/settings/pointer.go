package settings

import (
	"strconv"
	"strings"
)

// escapeToken and unescapeToken follow RFC 6901 §3-4: "~" is escaped first
// and unescaped last so that "~01" means "~1", not "/".
func escapeToken(t string) string {
	if !strings.ContainsAny(t, "~/") {
		return t
	}
	return strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1")
}

func unescapeToken(t string) string {
	return strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
}

// pointerJoin appends one reference token to pointer.
func pointerJoin(pointer, token string) string {
	return pointer + "/" + escapeToken(token)
}

// pointerOf builds a pointer from unescaped tokens.
func pointerOf(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(escapeToken(t))
	}
	return b.String()
}

// nextToken splits the first reference token off rest, which starts with
// "/". It allocates only when the token holds an escape.
func nextToken(rest string) (token, after string) {
	rest = rest[1:]
	end := strings.IndexByte(rest, '/')
	if end < 0 {
		end = len(rest)
	}
	token, after = rest[:end], rest[end:]
	if strings.IndexByte(token, '~') >= 0 {
		token = unescapeToken(token)
	}
	return token, after
}

// resolvePointer walks doc, as decoded by encoding/json, along pointer.
func resolvePointer(doc any, pointer string) (any, bool) {
	if pointer != "" && pointer[0] != '/' {
		return nil, false
	}
	cur := doc
	for pointer != "" {
		var token string
		token, pointer = nextToken(pointer)
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[token]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, ok := arrayIndex(token)
			if !ok || i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// arrayIndex parses an RFC 6901 array index: digits, no leading zero.
func arrayIndex(token string) (int, bool) {
	if token == "" || (len(token) > 1 && token[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(token); i++ {
		if token[i] < '0' || token[i] > '9' {
			return 0, false
		}
	}
	i, err := strconv.Atoi(token)
	return i, err == nil
}

// comparePointers orders pointers token by token, so a property's children
// sort right after it, and array indexes numerically ("/a/2" before "/a/10").
func comparePointers(a, b string) int {
	for a != "" && b != "" {
		var ta, tb string
		ta, a = nextToken(a)
		tb, b = nextToken(b)
		if c := compareTokens(ta, tb); c != 0 {
			return c
		}
	}
	return len(a) - len(b)
}

func compareTokens(a, b string) int {
	ia, aok := arrayIndex(a)
	ib, bok := arrayIndex(b)
	if aok && bok {
		return ia - ib
	}
	return strings.Compare(a, b)
}
