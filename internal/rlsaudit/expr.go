package rlsaudit

import (
	"strings"
	"unicode"
)

// sameExpr tells whether got, an expression as pg_get_expr prints it back,
// is want, an expression as tenantkit writes it. PostgreSQL reprints an
// expression in its own way — upper-case keywords, ::text casts on
// literals, extra parentheses, an alias on a sub-select's column, e.g.
//
//	(tenant_id = ( SELECT (NULLIF(current_setting('tenantkit.tenant_id'::text, true), ''::text))::uuid AS "nullif"))
//
// for rlspolicy.Predicate — and the details differ between major versions,
// so both sides are reduced to the tokens that carry meaning here.
func sameExpr(got, want string) bool {
	return got != "" && normalizeExpr(got) == normalizeExpr(want)
}

// normalizeExpr reduces a SQL expression to a comparable form: tokens
// joined by spaces, keywords and unquoted identifiers in lower case, string
// literals and quoted identifiers kept as written (without the identifier
// quotes), parentheses, ::text casts and "AS alias" before a closing
// parenthesis dropped. Parentheses carry no meaning in the expressions
// compared here, which differ only in where PostgreSQL adds them.
func normalizeExpr(s string) string {
	toks := tokenize(s)
	var out []string
	for i := 0; i < len(toks); i++ {
		switch t := toks[i]; {
		case t == "::" && i+1 < len(toks) && toks[i+1] == "text":
			i++
		case t == "as" && i+2 < len(toks) && toks[i+2] == ")":
			i++
		case t == "(" || t == ")":
		default:
			out = append(out, t)
		}
	}
	return strings.Join(out, " ")
}

// tokenize splits a SQL expression into string literals, quoted and
// unquoted words, "::" and single punctuation characters.
func tokenize(s string) []string {
	var toks []string
	r := []rune(s)
	for i := 0; i < len(r); {
		c := r[i]
		switch {
		case unicode.IsSpace(c):
			i++
		case c == '\'' || c == '"':
			j := closing(r, i)
			tok := string(r[i:j])
			if c == '"' {
				tok = strings.ReplaceAll(tok[1:len(tok)-1], `""`, `"`)
			}
			toks = append(toks, tok)
			i = j
		case isWord(c):
			j := i
			for j < len(r) && isWord(r[j]) {
				j++
			}
			toks = append(toks, strings.ToLower(string(r[i:j])))
			i = j
		case c == ':' && i+1 < len(r) && r[i+1] == ':':
			toks = append(toks, "::")
			i += 2
		default:
			toks = append(toks, string(c))
			i++
		}
	}
	return toks
}

// closing returns the index just past the quote that closes the literal or
// identifier opened at r[i], a doubled quote standing for itself.
func closing(r []rune, i int) int {
	q := r[i]
	for j := i + 1; j < len(r); j++ {
		if r[j] != q {
			continue
		}
		if j+1 < len(r) && r[j+1] == q {
			j++
			continue
		}
		return j + 1
	}
	return len(r)
}

func isWord(c rune) bool {
	return c == '_' || c == '$' || c == '.' || unicode.IsLetter(c) || unicode.IsDigit(c)
}
