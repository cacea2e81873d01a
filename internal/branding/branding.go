package branding

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Platform defaults used by StyleHTML when a field is unset or invalid. Apply
// the platform's own defaults first with Branding.WithDefaults.
const (
	DefaultPrimaryColor   = "#2563eb"
	DefaultSecondaryColor = "#64748b"
	DefaultAccentColor    = "#f59e0b"
	DefaultFontFamily     = "system-ui, sans-serif"
)

const (
	maxNameRunes   = 100
	maxURLBytes    = 2048
	maxEmailBytes  = 254
	maxCSSProblems = 10
)

// Branding is a tenant's white-label look. The empty string means unset.
type Branding struct {
	DisplayName    string `json:"display_name"`
	LogoURL        string `json:"logo_url"`
	FaviconURL     string `json:"favicon_url"`
	PrimaryColor   string `json:"primary_color"`
	SecondaryColor string `json:"secondary_color"`
	AccentColor    string `json:"accent_color"`
	FontFamily     string `json:"font_family"`
	CustomCSS      string `json:"custom_css"`
	SupportEmail   string `json:"support_email"`
	SupportURL     string `json:"support_url"`
	TermsURL       string `json:"terms_url"`
	PrivacyURL     string `json:"privacy_url"`
	// FromName is the sender name on the tenant's emails.
	FromName string `json:"from_name"`
}

// FieldError is one refused branding value. Field is the JSON name.
type FieldError struct {
	Field   string
	Message string
}

// Error returns "branding: FIELD: MESSAGE".
func (e FieldError) Error() string {
	return "branding: " + e.Field + ": " + e.Message
}

// Validate reports every value of b that p does not allow; nil means b may
// be stored. It is Normalize without the result.
func (b Branding) Validate(p Policy) []FieldError {
	_, errs := b.Normalize(p)
	return errs
}

// field ties a Branding field to its JSON name and its check. A check
// returns the canonical form of a valid value.
type field struct {
	name  string
	ptr   func(*Branding) *string
	check func(string, Policy) (string, error)
}

var fields = []field{
	{"display_name", func(b *Branding) *string { return &b.DisplayName }, checkName},
	{"logo_url", func(b *Branding) *string { return &b.LogoURL }, checkAssetURL},
	{"favicon_url", func(b *Branding) *string { return &b.FaviconURL }, checkAssetURL},
	{"primary_color", func(b *Branding) *string { return &b.PrimaryColor }, ignorePolicy(ParseColor)},
	{"secondary_color", func(b *Branding) *string { return &b.SecondaryColor }, ignorePolicy(ParseColor)},
	{"accent_color", func(b *Branding) *string { return &b.AccentColor }, ignorePolicy(ParseColor)},
	{"font_family", func(b *Branding) *string { return &b.FontFamily }, ignorePolicy(ParseFontFamily)},
	{"support_email", func(b *Branding) *string { return &b.SupportEmail }, checkEmail},
	{"support_url", func(b *Branding) *string { return &b.SupportURL }, checkLinkURL},
	{"terms_url", func(b *Branding) *string { return &b.TermsURL }, checkLinkURL},
	{"privacy_url", func(b *Branding) *string { return &b.PrivacyURL }, checkLinkURL},
	{"from_name", func(b *Branding) *string { return &b.FromName }, checkName},
}

func ignorePolicy(f func(string) (string, error)) func(string, Policy) (string, error) {
	return func(s string, _ Policy) (string, error) { return f(s) }
}

// Normalize returns b in canonical form (trimmed text, lowercase hex colours,
// quoted font names, re-serialized custom CSS) with the errors Validate
// reports. A field that fails keeps its input value; store the result only
// when errs is empty.
func (b Branding) Normalize(p Policy) (Branding, []FieldError) {
	var errs []FieldError
	for _, f := range fields {
		v := f.ptr(&b)
		if *v == "" {
			continue
		}
		canon, err := f.check(*v, p)
		if err != nil {
			errs = append(errs, FieldError{Field: f.name, Message: err.Error()})
			continue
		}
		*v = canon
	}
	if b.CustomCSS != "" {
		clean, problems := SanitizeCSS(b.CustomCSS, p)
		for i, msg := range problems {
			if i == maxCSSProblems {
				msg = "… and more problems"
			}
			errs = append(errs, FieldError{Field: "custom_css", Message: msg})
			if i == maxCSSProblems {
				break
			}
		}
		if problems == nil {
			b.CustomCSS = clean
		}
	}
	return b, errs
}

// WithDefaults returns b with every unset field taken from d, typically the
// platform's own branding.
func (b Branding) WithDefaults(d Branding) Branding {
	for _, f := range fields {
		if v := f.ptr(&b); *v == "" {
			*v = *f.ptr(&d)
		}
	}
	if b.CustomCSS == "" {
		b.CustomCSS = d.CustomCSS
	}
	return b
}

// checkName allows printable text of at most 100 runes. Bidi overrides are
// refused too: in a From header they can make "moc.knab" read as "bank.com".
func checkName(s string, _ Policy) (string, error) {
	s = strings.TrimSpace(s)
	if !utf8.ValidString(s) {
		return "", errors.New("not valid UTF-8")
	}
	if n := utf8.RuneCountInString(s); n > maxNameRunes {
		return "", fmt.Errorf("%d characters; at most %d are allowed", n, maxNameRunes)
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == utf8.RuneError {
			return "", fmt.Errorf("contains control character %U", r)
		}
	}
	if s == "" {
		return "", errors.New("only whitespace")
	}
	return s, nil
}

func checkEmail(s string, _ Policy) (string, error) {
	s = strings.TrimSpace(s)
	if len(s) > maxEmailBytes {
		return "", fmt.Errorf("longer than %d bytes", maxEmailBytes)
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return "", fmt.Errorf("not an email address: %v", err)
	}
	if a.Name != "" || a.Address != s {
		return "", errors.New("must be a bare address such as support@example.com, without a name or angle brackets")
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			return "", fmt.Errorf("contains control character %U", r)
		}
	}
	return s, nil
}

// checkLinkURL allows an absolute https URL on any host.
func checkLinkURL(s string, _ Policy) (string, error) {
	u, err := parseHTTPS(s)
	if err != nil {
		return "", err
	}
	return u.String(), nil
}

// checkAssetURL allows an absolute https URL on the asset host.
func checkAssetURL(s string, p Policy) (string, error) {
	u, err := parseHTTPS(s)
	if err != nil {
		return "", err
	}
	if err := p.checkAssetHost(u); err != nil {
		return "", err
	}
	return u.String(), nil
}

func (p Policy) checkAssetHost(u *url.URL) error {
	h := p.assetHost()
	if h == "" {
		return errors.New("no asset host is configured, so no asset URL is allowed")
	}
	if !strings.EqualFold(u.Host, h) {
		return fmt.Errorf("host %q is not the asset host; use https://%s/…", truncate(u.Host), h)
	}
	return nil
}

// notInURL holds ASCII characters RFC 3986 does not allow anywhere in a URL.
const notInURL = "\\\"<>`{}|^"

// parseHTTPS accepts an absolute https URL with a host and without
// userinfo. Whitespace, control characters, backslashes, quotes, angle
// brackets and non-ASCII bytes are refused outright: browsers strip or reinterpret them ("java\tscript:",
// "https://a\@b"), so a check that let them through could judge a different
// URL than the browser loads.
func parseHTTPS(s string) (*url.URL, error) {
	if len(s) > maxURLBytes {
		return nil, fmt.Errorf("URL longer than %d bytes", maxURLBytes)
	}
	for i := range len(s) {
		if c := s[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(notInURL, c) >= 0 {
			return nil, fmt.Errorf("URL contains %q at byte %d; percent-encode it", c, i)
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("not a URL: %v", err)
	}
	switch {
	case u.Scheme == "":
		return nil, errors.New("URL must be absolute and start with https://")
	case u.Scheme != "https":
		return nil, fmt.Errorf("URL must start with https://, not %q", truncate(u.Scheme+":"))
	case u.Opaque != "" || u.Host == "":
		return nil, errors.New("URL must be absolute, like https://example.com/path")
	case u.User != nil:
		return nil, errors.New("URL must not contain a user name or password")
	}
	return u, nil
}
