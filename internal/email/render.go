package email

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"io/fs"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strings"
	texttemplate "text/template"
)

// Renderer errors.
var (
	// ErrTemplateNotFound is returned by Render for a name it has no
	// template for.
	ErrTemplateNotFound = errors.New("email: template not found")
	// ErrInvalidBranding is wrapped by Render's errors for a colour that is
	// not #rgb or #rrggbb or a URL that is not http(s).
	ErrInvalidBranding = errors.New("email: invalid branding")
)

// Branding is how a tenant's mail looks and whom it is from.
type Branding struct {
	ProductName string
	// LogoURL is an http(s) URL of the logo shown atop every HTML email;
	// none when empty.
	LogoURL string
	// PrimaryColor is #rgb or #rrggbb. Defaults to #2563eb.
	PrimaryColor string
	// AccentColor is #rgb or #rrggbb, used for links. Defaults to
	// PrimaryColor.
	AccentColor string
	FromName    string
	FromEmail   string
	// SupportURL is an http(s) URL linked from every email's footer; no
	// link when empty.
	SupportURL string
}

// DefaultPrimaryColor is the primary colour of a Branding that has none.
const DefaultPrimaryColor = "#2563eb"

var colorPattern = regexp.MustCompile(`^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// normalized checks b's colours and URLs, which go into style and href
// attributes, and fills in defaults.
func (b Branding) normalized() (Branding, error) {
	if b.PrimaryColor == "" {
		b.PrimaryColor = DefaultPrimaryColor
	}
	if b.AccentColor == "" {
		b.AccentColor = b.PrimaryColor
	}
	var problems []string
	for name, c := range map[string]string{"primary colour": b.PrimaryColor, "accent colour": b.AccentColor} {
		if !colorPattern.MatchString(c) {
			problems = append(problems, fmt.Sprintf("%s %q is not #rgb or #rrggbb", name, c))
		}
	}
	for name, u := range map[string]string{"logo URL": b.LogoURL, "support URL": b.SupportURL} {
		if u != "" && !isHTTPURL(u) {
			problems = append(problems, fmt.Sprintf("%s %q is not an http(s) URL", name, u))
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return b, fmt.Errorf("%w: %s", ErrInvalidBranding, strings.Join(problems, "; "))
	}
	return b, nil
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || strings.ContainsAny(s, " \t\r\n\"'<>") {
		return false
	}
	scheme := strings.ToLower(u.Scheme)
	return scheme == "http" || scheme == "https"
}

// Template is one email. Subject and Text are text/template sources, HTML
// an html/template source (so data is escaped for its context); HTML may be
// empty for a text-only email. Each sees .Brand (the Branding, validated and
// with defaults) and .Data (what Render was given). A missing map key is an
// error rather than "<no value>" in someone's inbox.
type Template struct {
	Name    string
	Subject string
	Text    string
	HTML    string
}

// WelcomeData is the data of the built-in "welcome" template. Name and
// ActionURL may be empty.
type WelcomeData struct {
	Name      string
	ActionURL string
}

// PasswordResetData is the data of the built-in "password_reset" template.
// ResetURL is required; ExpiresIn reads like "1 hour".
type PasswordResetData struct {
	Name      string
	ResetURL  string
	ExpiresIn string
}

// TestData is the data of the built-in "test" template, the message an
// integration's test action sends.
type TestData struct {
	// Provider names the integration tested, such as "postmark".
	Provider string
}

//go:embed templates/*.tmpl
var builtinFS embed.FS

//go:embed templates/layout.html
var defaultLayout string

// RendererConfig configures NewRenderer.
type RendererConfig struct {
	// Templates are added to the built-in ones ("welcome",
	// "password_reset", "test"), replacing any of the same name. Defaults
	// to none.
	Templates []Template
	// FS holds templates as NAME.subject.tmpl, NAME.txt.tmpl and, optionally,
	// NAME.html.tmpl at its root; they replace built-ins of the same name and
	// are replaced by Templates. Defaults to nil.
	FS fs.FS
	// Layout is an html/template that wraps every HTML body; it sees .Brand,
	// .Subject and .Body (the rendered body). Defaults to a layout with the
	// logo, the primary colour, the product name and the support link.
	Layout string
}

// Renderer renders named templates with a tenant's branding. It is safe
// for concurrent use.
type Renderer struct {
	templates map[string]compiled
	layout    *htmltemplate.Template
}

type compiled struct {
	subject *texttemplate.Template
	text    *texttemplate.Template
	html    *htmltemplate.Template // nil: text only
}

// NewRenderer parses the built-in templates, then cfg's, and the layout.
func NewRenderer(cfg RendererConfig) (*Renderer, error) {
	sources, err := templatesFromFS(builtinFS, "templates")
	if err != nil {
		return nil, fmt.Errorf("email: built-in templates: %w", err)
	}
	if cfg.FS != nil {
		more, err := templatesFromFS(cfg.FS, ".")
		if err != nil {
			return nil, fmt.Errorf("email: templates: %w", err)
		}
		sources = append(sources, more...)
	}
	sources = append(sources, cfg.Templates...)
	r := &Renderer{templates: map[string]compiled{}}
	for _, t := range sources {
		c, err := compile(t)
		if err != nil {
			return nil, err
		}
		r.templates[t.Name] = c
	}
	layout := cfg.Layout
	if layout == "" {
		layout = defaultLayout
	}
	if r.layout, err = htmltemplate.New("layout").Option("missingkey=error").Parse(layout); err != nil {
		return nil, fmt.Errorf("email: layout: %w", err)
	}
	return r, nil
}

func compile(t Template) (compiled, error) {
	if t.Name == "" || strings.TrimSpace(t.Subject) == "" || strings.TrimSpace(t.Text) == "" {
		return compiled{}, fmt.Errorf("email: template %q: a name, a subject and a text body are required", t.Name)
	}
	var c compiled
	var err error
	if c.subject, err = texttemplate.New(t.Name + ".subject").Option("missingkey=error").Parse(t.Subject); err != nil {
		return c, fmt.Errorf("email: template %q: %w", t.Name, err)
	}
	if c.text, err = texttemplate.New(t.Name + ".txt").Option("missingkey=error").Parse(t.Text); err != nil {
		return c, fmt.Errorf("email: template %q: %w", t.Name, err)
	}
	if t.HTML != "" {
		if c.html, err = htmltemplate.New(t.Name + ".html").Option("missingkey=error").Parse(t.HTML); err != nil {
			return c, fmt.Errorf("email: template %q: %w", t.Name, err)
		}
	}
	return c, nil
}

// templatesFromFS reads NAME.subject.tmpl, NAME.txt.tmpl and NAME.html.tmpl
// files from dir.
func templatesFromFS(fsys fs.FS, dir string) ([]Template, error) {
	files, err := fs.Glob(fsys, path.Join(dir, "*.tmpl"))
	if err != nil {
		return nil, err
	}
	byName := map[string]*Template{}
	var names []string
	for _, file := range files {
		base := strings.TrimSuffix(path.Base(file), ".tmpl")
		dot := strings.LastIndexByte(base, '.')
		if dot <= 0 {
			return nil, fmt.Errorf("%s: want NAME.subject.tmpl, NAME.txt.tmpl or NAME.html.tmpl", file)
		}
		name, part := base[:dot], base[dot+1:]
		b, err := fs.ReadFile(fsys, file)
		if err != nil {
			return nil, err
		}
		t := byName[name]
		if t == nil {
			t = &Template{Name: name}
			byName[name] = t
			names = append(names, name)
		}
		switch part {
		case "subject":
			t.Subject = string(b)
		case "txt":
			t.Text = string(b)
		case "html":
			t.HTML = string(b)
		default:
			return nil, fmt.Errorf("%s: want NAME.subject.tmpl, NAME.txt.tmpl or NAME.html.tmpl", file)
		}
	}
	out := make([]Template, 0, len(names))
	for _, name := range names {
		out = append(out, *byName[name])
	}
	return out, nil
}

// Names lists the templates r can render, sorted.
func (r *Renderer) Names() []string {
	names := make([]string, 0, len(r.templates))
	for name := range r.templates {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Render renders the named template with b and data. The subject comes
// back on one line (line breaks in data cannot split it into headers);
// html is "" for a text-only template and otherwise is wrapped in the
// layout.
func (r *Renderer) Render(name string, b Branding, data any) (subject, text, html string, err error) {
	t, ok := r.templates[name]
	if !ok {
		return "", "", "", fmt.Errorf("%w: %q", ErrTemplateNotFound, name)
	}
	if b, err = b.normalized(); err != nil {
		return "", "", "", err
	}
	v := struct {
		Brand Branding
		Data  any
	}{b, data}
	if subject, err = execute(t.subject, v); err != nil {
		return "", "", "", fmt.Errorf("email: template %q subject: %w", name, err)
	}
	subject = strings.Join(strings.Fields(subject), " ")
	if text, err = execute(t.text, v); err != nil {
		return "", "", "", fmt.Errorf("email: template %q text: %w", name, err)
	}
	if t.html == nil {
		return subject, text, "", nil
	}
	if html, err = r.html(t.html, v.Brand, subject, v); err != nil {
		return "", "", "", fmt.Errorf("email: template %q html: %w", name, err)
	}
	return subject, text, html, nil
}

func (r *Renderer) html(body *htmltemplate.Template, b Branding, subject string, v any) (string, error) {
	inner, err := execute(body, v)
	if err != nil {
		return "", err
	}
	return execute(r.layout, struct {
		Brand   Branding
		Subject string
		// Body is html/template output, so already escaped.
		Body htmltemplate.HTML
	}{b, subject, htmltemplate.HTML(inner)}) //nolint:gosec // escaped by html/template above
}

func execute[T interface {
	Execute(w io.Writer, data any) error
}](t T, data any) (string, error) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return "", err
	}
	return buf.String(), nil
}
