package branding

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/tdewolff/parse/v2"
	"github.com/tdewolff/parse/v2/css"
)

// SanitizeCSS parses src as a stylesheet with github.com/tdewolff/parse/v2/css
// and rebuilds it from the token stream. clean holds only what is allowed;
// problems names what was dropped (the first 20 distinct findings) and is
// empty when src is acceptable as it stands. clean never echoes the input:
// every token is decoded, judged and serialized again, so it holds no
// comments, no '<' and only canonical escapes, and SanitizeCSS(clean) returns
// clean unchanged.
//
// What survives:
//   - style rules, nested rules, and the at-rules @media, @supports,
//     @keyframes (also -webkit-), @layer, @page and @font-face;
//   - declarations and custom properties, except behavior and binding
//     properties (IE behaviors, -moz-binding);
//   - functions from an allowlist (var, calc, colour and gradient functions,
//     transforms, filters, :not/:is/:where/:has/:nth-*, local, format, …),
//     so expression(), image-set(), element(), src() and friends are out;
//   - url() only as an https URL on Policy.AssetHost, judged after decoding
//     escapes (u\72l(…) is url()), serialized as url("…").
//
// Dropped and reported: @import, @charset, @namespace and every other
// at-rule; text that decodes to javascript:, vbscript:, expression( or '<';
// bad strings and URLs, unclosed strings, comments and blocks, unbalanced
// brackets, stray delimiters such as '<', '@' or '\', HTML comment tokens,
// and parse errors. A rule whose selector or prelude has a problem is dropped
// whole; otherwise only the offending declaration goes. Input larger than
// Policy.MaxCSSBytes, invalid UTF-8 or containing control characters (NUL
// included) is dropped entirely.
func SanitizeCSS(src string, p Policy) (clean string, problems []string) {
	if msg := precheck(src, p.maxCSSBytes()); msg != "" {
		return "", []string{msg}
	}
	s := &sanitizer{p: p}
	s.prescan(src)
	s.run(src)
	out := s.w.b.String()
	if strings.ContainsRune(out, '<') { // unreachable by construction; fail closed
		return "", append(s.problems, "internal error: sanitized CSS contained '<'")
	}
	return out, s.problems
}

func precheck(src string, limit int) string {
	if len(src) > limit {
		return fmt.Sprintf("%d bytes; at most %d are allowed", len(src), limit)
	}
	if !utf8.ValidString(src) {
		return "not valid UTF-8"
	}
	for _, r := range src {
		if r < 0x20 && !isCSSSpace(byte(r)) || r == 0x7f {
			return fmt.Sprintf("contains control character %U", r)
		}
	}
	return ""
}

type sanitizer struct {
	p        Policy
	w        cssWriter
	problems []string // distinct messages
	found    int      // problems found, repeats included
	open     []bool   // one per open block: whether its '{' was written
	needSemi bool     // a declaration was written and not yet terminated
}

// maxProblems caps the messages kept: a hostile input can hold thousands of
// errors, and placing each one (line, column) costs a scan of the input.
const maxProblems = 20

func (s *sanitizer) problem(format string, args ...any) {
	s.found++
	if len(s.problems) >= maxProblems {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if !slices.Contains(s.problems, msg) {
		s.problems = append(s.problems, msg)
	}
}

func (s *sanitizer) skipping() bool {
	return len(s.open) > 0 && !s.open[len(s.open)-1]
}

// prescan reports what the parser hides or buries in an error: comments
// inside blocks are skipped without a trace, and a '<' in a broken selector
// would otherwise surface only as "syntax error".
func (s *sanitizer) prescan(src string) {
	l := css.NewLexer(parse.NewInputString(src))
	seen := map[string]bool{}
	once := func(msg string) {
		if !seen[msg] {
			seen[msg] = true
			s.problem("%s", msg)
		}
	}
	for {
		tt, data := l.Next()
		switch {
		case tt == css.ErrorToken:
			return
		case tt == css.CommentToken && (len(data) < 4 || !strings.HasSuffix(string(data), "*/")):
			once("unclosed comment")
		case tt == css.DelimToken && data[0] == '<':
			once(`"<" is not allowed`)
		case tt == css.CDOToken || tt == css.CDCToken:
			once("HTML comment markers <!-- and --> are not allowed")
		}
	}
}

func (s *sanitizer) run(src string) {
	p := css.NewParser(parse.NewInput(strings.NewReader(src)), false)
	for steps := 3*len(src) + 16; steps > 0; steps-- {
		gt, tt, data := p.Next()
		if gt == css.ErrorGrammar && tt == css.ErrorToken {
			s.closeAll()
			return
		}
		s.event(p, gt, tt, string(data))
	}
	s.problem("too complex to parse")
	s.closeAll()
}

func (s *sanitizer) event(p *css.Parser, gt css.GrammarType, tt css.TokenType, data string) {
	switch gt {
	case css.CommentGrammar:
	case css.ErrorGrammar:
		s.syntaxError(p, tt, data)
	case css.AtRuleGrammar:
		s.atRule(data, p.Values())
	case css.BeginAtRuleGrammar:
		s.beginAtRule(data, p.Values())
	case css.BeginRulesetGrammar:
		s.beginRuleset(p.Values())
	case css.EndAtRuleGrammar, css.EndRulesetGrammar:
		if tt == css.ErrorToken && !s.skipping() {
			s.problem("unclosed block: '}' missing at the end")
		}
		s.end()
	case css.DeclarationGrammar:
		s.declaration(data, p.Values())
	case css.CustomPropertyGrammar:
		s.customProperty(data, p.Values())
	case css.TokenGrammar:
		if !s.skipping() {
			s.problem("%s is not allowed here", describe(tt, data))
		}
	default:
		s.problem("unexpected %v", gt)
	}
}

func (s *sanitizer) syntaxError(p *css.Parser, tt css.TokenType, data string) {
	if len(s.problems) < maxProblems {
		s.problem("syntax error%s", errSuffix(p.Err()))
		if !s.skipping() {
			s.tokens(p.Values()) // only to name what was found in the broken part
		}
	} else {
		s.found++
	}
	if parserPopped(tt, data, p.Values()) {
		s.end()
	}
}

// parserPopped reports whether an error event also closed the innermost
// block. The parser does that, without an End event, when a selector or an
// at-rule prelude meets a closing bracket it did not open; the sanitizer
// must follow, or it would put what comes next in the wrong block.
func parserPopped(tt css.TokenType, data string, vals []css.Token) bool {
	switch {
	case tt == css.AtKeywordToken: // parseAtRule fails only this way
		return true
	case tt != css.WhitespaceToken || data != "" || len(vals) == 0: // not parseQualifiedRule
		return false
	}
	level := 0
	for _, v := range vals[:len(vals)-1] {
		switch v.TokenType {
		case css.LeftParenthesisToken, css.LeftBraceToken, css.LeftBracketToken, css.FunctionToken:
			level++
		case css.RightParenthesisToken, css.RightBraceToken, css.RightBracketToken:
			level--
		}
	}
	switch vals[len(vals)-1].TokenType {
	case css.RightParenthesisToken, css.RightBraceToken, css.RightBracketToken:
		return level == 0
	}
	return false // the selector ran into the end of input
}

func errSuffix(err error) string {
	var pe *parse.Error
	if errors.As(err, &pe) {
		return fmt.Sprintf(" at line %d, column %d: %s", pe.Line, pe.Column, pe.Message)
	}
	return ""
}

func describe(tt css.TokenType, data string) string {
	if tt == css.AtKeywordToken {
		return "@" + encodeIdent(strings.TrimPrefix(data, "@"))
	}
	return fmt.Sprintf("%q", truncate(data))
}

// semi terminates the previous declaration before anything follows it.
func (s *sanitizer) semi() {
	if s.needSemi {
		s.w.token(";")
		s.needSemi = false
	}
}

func (s *sanitizer) write(pieces []string) {
	for _, p := range pieces {
		s.w.token(p)
	}
}

func (s *sanitizer) push(written bool) {
	s.open = append(s.open, written)
	s.needSemi = false
}

func (s *sanitizer) end() {
	if len(s.open) == 0 {
		return
	}
	if s.open[len(s.open)-1] {
		s.w.token("}")
	}
	s.open = s.open[:len(s.open)-1]
	s.needSemi = false
}

func (s *sanitizer) closeAll() {
	for len(s.open) > 0 {
		s.end()
	}
}

var (
	statementAtRules = map[string]bool{"@layer": true}
	blockAtRules     = map[string]bool{
		"@media": true, "@supports": true, "@keyframes": true, "@-webkit-keyframes": true,
		"@layer": true, "@font-face": true, "@page": true,
	}
)

// atName checks an at-rule name against allowed. Escapes are refused rather
// than decoded: the parser picks the at-rule's grammar from the raw name,
// and judging a decoded one would let the two disagree.
func (s *sanitizer) atName(name string, allowed map[string]bool) bool {
	switch {
	case strings.ContainsRune(name, '\\'):
		s.problem("escaped at-rule name %q is not allowed", truncate(name))
	case !allowed[name]:
		s.problem("@%s is not allowed", encodeIdent(strings.TrimPrefix(name, "@")))
	default:
		return true
	}
	return false
}

func (s *sanitizer) atRule(name string, vals []css.Token) {
	if s.skipping() || !s.atName(name, statementAtRules) {
		return
	}
	pieces, ok := s.tokens(vals)
	if !ok {
		return
	}
	s.semi()
	s.w.token(name)
	s.write(pieces)
	s.w.token(";")
}

func (s *sanitizer) beginAtRule(name string, vals []css.Token) {
	if s.skipping() || !s.atName(name, blockAtRules) {
		s.push(false)
		return
	}
	pieces, ok := s.tokens(vals)
	if ok && name == "@font-face" && len(pieces) > 0 {
		s.problem("@font-face takes no prelude")
		ok = false
	}
	if !ok {
		s.push(false)
		return
	}
	s.semi()
	s.w.token(name)
	s.write(pieces)
	s.w.token("{")
	s.push(true)
}

func (s *sanitizer) beginRuleset(vals []css.Token) {
	if s.skipping() {
		s.push(false)
		return
	}
	pieces, ok := s.tokens(vals)
	switch {
	case !ok:
	case len(pieces) == 0:
		s.problem("rule without a selector")
		ok = false
	case strings.HasPrefix(pieces[0], "--"):
		// It would come back as a custom property, and matches no element.
		s.problem("selector %q cannot start with --", truncate(pieces[0]))
		ok = false
	}
	if !ok {
		s.push(false)
		return
	}
	s.semi()
	s.write(pieces)
	s.w.token("{")
	s.push(true)
}

func (s *sanitizer) declaration(name string, vals []css.Token) {
	if s.skipping() {
		return
	}
	if len(s.open) == 0 {
		s.problem("declaration %q outside a rule", truncate(name))
		return
	}
	prop, ok := s.property(name)
	if !ok {
		return
	}
	pieces, ok := s.tokens(vals)
	if !ok || len(pieces) == 0 {
		return
	}
	s.semi()
	s.w.token(prop)
	s.w.token(":")
	s.write(pieces)
	s.needSemi = true
}

func (s *sanitizer) property(raw string) (string, bool) {
	if !css.IsIdent([]byte(raw)) {
		s.problem("invalid property name %q", truncate(raw))
		return "", false
	}
	v := strings.ToLower(unescape(raw, false))
	if base := stripVendor(v); base == "behavior" || base == "binding" {
		s.problem("property %s is not allowed", encodeIdent(v))
		return "", false
	}
	return encodeIdent(v), true
}

func (s *sanitizer) customProperty(name string, vals []css.Token) {
	if s.skipping() {
		return
	}
	if len(s.open) == 0 {
		s.problem("custom property %q outside a rule", truncate(name))
		return
	}
	v := unescape(name, false)
	if !css.IsIdent([]byte(name)) || !strings.HasPrefix(v, "--") {
		s.problem("invalid custom property name %q", truncate(name))
		return
	}
	if len(vals) != 1 || vals[0].TokenType != css.CustomPropertyValueToken {
		s.problem("malformed custom property %q", truncate(name))
		return
	}
	pieces, ok := s.tokens(lexTokens(string(vals[0].Data)))
	if !ok {
		return
	}
	s.semi()
	s.w.token(encodeIdent(v))
	s.w.token(":")
	s.write(pieces)
	s.needSemi = true
}

// lexTokens splits a custom property's raw value into tokens, dropping
// comments and collapsing whitespace as the parser does for other values.
func lexTokens(src string) []css.Token {
	l := css.NewLexer(parse.NewInputString(src))
	var toks []css.Token
	for {
		tt, data := l.Next()
		switch {
		case tt == css.ErrorToken:
			return toks
		case tt == css.CommentToken:
		case tt == css.WhitespaceToken && len(toks) > 0 && toks[len(toks)-1].TokenType == css.WhitespaceToken:
		default:
			toks = append(toks, css.Token{TokenType: tt, Data: parse.Copy(data)})
		}
	}
}

var (
	unicodeRangePattern = regexp.MustCompile(`^[uU]\+[0-9a-fA-F?]{1,6}(-[0-9a-fA-F]{1,6})?$`)
	numberPrefix        = regexp.MustCompile(`^[+-]?([0-9]+(\.[0-9]+)?|\.[0-9]+)([eE][+-]?[0-9]+)?`)
)

// allowedDelims are the lone characters CSS selectors and values need.
const allowedDelims = ".*+>~!/=&-|"

// tokens serializes a selector, at-rule prelude or value. ok is false, with
// the reasons recorded, when any token is not allowed; the caller then drops
// the whole construct.
func (s *sanitizer) tokens(toks []css.Token) (pieces []string, ok bool) {
	before := s.found
	var closers []byte
	for i := 0; i < len(toks); i++ {
		tt, data := toks[i].TokenType, string(toks[i].Data)
		var piece string
		switch tt {
		case css.WhitespaceToken:
			piece = " "
		case css.CommentToken:
			continue
		case css.IdentToken, css.CustomPropertyNameToken:
			v := unescape(data, false)
			s.checkText(v)
			piece = encodeIdent(v)
		case css.FunctionToken:
			name := unescape(strings.TrimSuffix(data, "("), false)
			if strings.EqualFold(name, "url") {
				piece, i = s.urlFunction(toks, i+1)
				break
			}
			if !allowedFunctions[stripVendor(strings.ToLower(name))] {
				s.problem("function %s() is not allowed", encodeIdent(name))
			}
			piece = encodeIdent(name) + "("
			closers = append(closers, ')')
		case css.URLToken:
			v, err := urlTokenValue(data)
			if err != nil {
				s.problem("%v", err)
			} else {
				s.checkURL(v)
			}
			piece = "url(" + quoteString(v) + ")"
		case css.StringToken:
			v, closed, _ := unquote(data)
			if !closed {
				s.problem("unclosed string")
			}
			s.checkText(v)
			piece = quoteString(v)
		case css.HashToken:
			v := unescape(data[1:], false)
			s.checkText(v)
			piece = "#" + encodeName(v)
		case css.NumberToken, css.PercentageToken:
			if !numberPattern.MatchString(strings.TrimSuffix(data, "%")) {
				s.problem("malformed number %q", truncate(data))
			}
			piece = data
		case css.DimensionToken:
			piece = s.dimension(data)
		case css.UnicodeRangeToken:
			if !unicodeRangePattern.MatchString(data) {
				s.problem("malformed unicode-range %q", truncate(data))
			}
			piece = data
		case css.DelimToken:
			if len(data) != 1 || !strings.Contains(allowedDelims, data) {
				s.problem("%q is not allowed", truncate(data))
			}
			piece = data
		case css.IncludeMatchToken, css.DashMatchToken, css.PrefixMatchToken, css.SuffixMatchToken,
			css.SubstringMatchToken, css.ColumnToken, css.ColonToken, css.CommaToken:
			piece = data
		case css.LeftParenthesisToken, css.LeftBracketToken:
			closers = append(closers, map[string]byte{"(": ')', "[": ']'}[data])
			piece = data
		case css.RightParenthesisToken, css.RightBracketToken:
			if len(closers) == 0 || closers[len(closers)-1] != data[0] {
				s.problem("unbalanced %q", data)
			} else {
				closers = closers[:len(closers)-1]
			}
			piece = data
		case css.BadStringToken:
			s.problem("string broken by a newline")
		case css.BadURLToken:
			s.problem("malformed url(): %q", truncate(data))
			s.checkText(unescape(data, false))
		default:
			s.problem("%s is not allowed here", describe(tt, data))
		}
		pieces = append(pieces, piece)
	}
	if len(closers) > 0 {
		s.problem("unclosed bracket: %q missing", string(closers[len(closers)-1]))
	}
	return trimSpacePieces(pieces), s.found == before
}

func trimSpacePieces(p []string) []string {
	for len(p) > 0 && p[0] == " " {
		p = p[1:]
	}
	for len(p) > 0 && p[len(p)-1] == " " {
		p = p[:len(p)-1]
	}
	return p
}

// checkText refuses decoded text that would matter to a browser outside
// CSS, however it is spelled or spaced.
func (s *sanitizer) checkText(v string) {
	squeezed := strings.Map(func(r rune) rune {
		if r <= ' ' || r == 0x7f {
			return -1
		}
		return r
	}, strings.ToLower(v))
	for _, bad := range []string{"javascript:", "vbscript:", "expression("} {
		if strings.Contains(squeezed, bad) {
			s.problem("%s is not allowed", bad)
		}
	}
	if strings.ContainsRune(v, '<') {
		s.problem("'<' is not allowed, even escaped")
	}
}

// urlFunction handles url( spelled with escapes, which the lexer reports as
// a function. Only a single quoted URL is accepted; it is serialized as a
// plain url("…"). It returns the index of the closing parenthesis.
func (s *sanitizer) urlFunction(toks []css.Token, i int) (string, int) {
	skip := func() {
		for i < len(toks) && toks[i].TokenType == css.WhitespaceToken {
			i++
		}
	}
	skip()
	if i >= len(toks) || toks[i].TokenType != css.StringToken {
		s.problem("url() written with escapes must hold one quoted URL")
		return "", len(toks)
	}
	v, closed, _ := unquote(string(toks[i].Data))
	i++
	skip()
	if !closed || i >= len(toks) || toks[i].TokenType != css.RightParenthesisToken {
		s.problem("unclosed url()")
		return "", len(toks)
	}
	s.checkURL(v)
	return "url(" + quoteString(v) + ")", i
}

// urlTokenValue decodes the URL inside a url(…) token, quoted or not.
func urlTokenValue(data string) (string, error) {
	i := 0
	for i < len(data) && data[i] != '(' {
		if data[i] == '\\' {
			i++
		}
		i++
	}
	rest := strings.TrimLeft(data[min(i+1, len(data)):], " \t\n\r\f")
	var v string
	if rest != "" && (rest[0] == '"' || rest[0] == '\'') {
		s, closed, end := unquote(rest)
		if !closed {
			return "", errors.New("unclosed string in url()")
		}
		v, rest = s, rest[end:]
	} else {
		var b strings.Builder
		for rest != "" && rest[0] != ')' && !isCSSSpace(rest[0]) {
			if rest[0] == '\\' {
				rest = rest[1+unescapeOne(&b, rest[1:], false):]
				continue
			}
			b.WriteByte(rest[0])
			rest = rest[1:]
		}
		v = b.String()
	}
	if strings.TrimLeft(rest, " \t\n\r\f") != ")" {
		return "", errors.New("unclosed url()")
	}
	return v, nil
}

func (s *sanitizer) checkURL(v string) {
	u, err := parseHTTPS(v)
	if err == nil {
		err = s.p.checkAssetHost(u)
	}
	if err != nil {
		s.problem("url(%q) is not allowed: %v", truncate(v), err)
	}
}

// dimension re-serializes a number with a unit, escaping the unit's first
// letter when it would otherwise read as an exponent ("1" "e3" → 1000).
func (s *sanitizer) dimension(data string) string {
	num := numberPrefix.FindString(data)
	if num == "" {
		s.problem("malformed dimension %q", truncate(data))
		return ""
	}
	unit := unescape(data[len(num):], false)
	s.checkText(unit)
	out := num + encodeIdent(unit)
	tt, d := css.NewLexer(parse.NewInputString(out)).Next()
	if tt == css.DimensionToken && len(d) == len(out) && numberPrefix.FindString(out) == num {
		return out
	}
	r, n := utf8.DecodeRuneInString(unit)
	var b strings.Builder
	hexEscape(&b, r)
	return num + b.String() + encodeName(unit[n:])
}

func stripVendor(name string) string {
	for _, p := range []string{"-webkit-", "-moz-", "-ms-", "-o-"} {
		if strings.HasPrefix(name, p) {
			return name[len(p):]
		}
	}
	return name
}

// allowedFunctions lists the CSS functions custom CSS may call, by lowercase
// name without vendor prefix. url() is handled apart.
var allowedFunctions = setOf(
	// values and maths
	"var", "env", "calc", "min", "max", "clamp", "round", "mod", "rem", "abs",
	"sign", "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "pow", "sqrt",
	"hypot", "log", "exp", "minmax", "repeat", "fit-content", "counter", "counters",
	// colours and gradients
	"rgb", "rgba", "hsl", "hsla", "hwb", "lab", "lch", "oklab", "oklch", "color",
	"color-mix", "light-dark", "linear-gradient", "radial-gradient", "conic-gradient",
	"repeating-linear-gradient", "repeating-radial-gradient", "repeating-conic-gradient",
	// transforms, easing, filters
	"translate", "translatex", "translatey", "translatez", "translate3d",
	"rotate", "rotatex", "rotatey", "rotatez", "rotate3d",
	"scale", "scalex", "scaley", "scalez", "scale3d", "skew", "skewx", "skewy",
	"matrix", "matrix3d", "perspective", "cubic-bezier", "steps", "linear",
	"blur", "brightness", "contrast", "drop-shadow", "grayscale", "hue-rotate",
	"invert", "opacity", "saturate", "sepia",
	// selectors, @supports, @font-face
	"not", "is", "where", "has", "nth-child", "nth-last-child", "nth-of-type",
	"nth-last-of-type", "lang", "dir", "selector", "local", "format", "tech",
)

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}
