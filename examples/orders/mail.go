package orders

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"io"
	"net/url"
	"regexp"
	"strings"
	texttemplate "text/template"

	"github.com/tenantkit/tenantkit"
)

// The receipt is rendered here, not by Kit.Email's templates: the Kit's
// renderer takes no application template (its built-ins are welcome,
// password_reset and test). The files follow its layout, NAME.subject.tmpl,
// NAME.txt.tmpl and NAME.html.tmpl seeing .Brand and .Data, so that they
// could move there as they are.
//
//go:embed templates
var templateFiles embed.FS

// receiptTemplates are parsed once: they never change.
var receiptTemplates = struct {
	subject, text *texttemplate.Template
	html, layout  *htmltemplate.Template
}{
	subject: texttemplate.Must(texttemplate.New("receipt.subject.tmpl").Option("missingkey=error").ParseFS(templateFiles, "templates/receipt.subject.tmpl")),
	text:    texttemplate.Must(texttemplate.New("receipt.txt.tmpl").Option("missingkey=error").ParseFS(templateFiles, "templates/receipt.txt.tmpl")),
	html:    htmltemplate.Must(htmltemplate.New("receipt.html.tmpl").Option("missingkey=error").ParseFS(templateFiles, "templates/receipt.html.tmpl")),
	layout:  htmltemplate.Must(htmltemplate.New("layout.html").Option("missingkey=error").ParseFS(templateFiles, "templates/layout.html")),
}

// defaultColor is the primary colour of a tenant without one, as in the
// Kit's own mail.
const defaultColor = "#2563eb"

var colorPattern = regexp.MustCompile(`^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// brand is a tenant's branding as its mail shows it, derived as the Kit
// derives it for its own templates: the display name, else the tenant's
// name; colours that are #rgb or #rrggbb, else the default; http(s) URLs
// only.
type brand struct {
	ProductName, LogoURL, PrimaryColor, AccentColor, SupportURL string
}

func brandOf(t *tenantkit.Tenant) brand {
	b := t.Branding
	out := brand{ProductName: b.DisplayName, LogoURL: httpURL(b.LogoURL), PrimaryColor: b.PrimaryColor,
		AccentColor: b.AccentColor, SupportURL: httpURL(b.SupportURL)}
	if out.ProductName == "" {
		out.ProductName = t.Name
	}
	if !colorPattern.MatchString(out.PrimaryColor) {
		out.PrimaryColor = defaultColor
	}
	if !colorPattern.MatchString(out.AccentColor) {
		out.AccentColor = out.PrimaryColor
	}
	return out
}

func httpURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return ""
	}
	return s
}

// receiptData is what the receipt templates see as .Data.
type receiptData struct {
	OrderID      int64
	CustomerName string
	Placed       string
	Lines        []receiptLine
	Total        string
}

type receiptLine struct {
	SKU               string
	Quantity          int
	UnitPrice, Amount string
}

// receiptMessage renders o's receipt for the tenant t, to address to, with
// the tenant's branding and its currency setting. From is left to
// Kit.Email, which picks what the tenant may send as.
func receiptMessage(ctx context.Context, kit *tenantkit.Kit, t *tenantkit.Tenant, o Order, to string) (tenantkit.EmailMessage, error) {
	currency := ""
	if s, err := kit.Settings(ctx); err == nil {
		currency = s.String("/currency")
	}
	d := receiptData{OrderID: o.ID, CustomerName: o.CustomerName, Placed: o.CreatedAt.UTC().Format("2 January 2006"),
		Total: money(o.TotalCents, currency)}
	for _, it := range o.Items {
		d.Lines = append(d.Lines, receiptLine{SKU: it.SKU, Quantity: it.Quantity,
			UnitPrice: money(it.PriceCents, currency), Amount: money(int64(it.Quantity)*it.PriceCents, currency)})
	}
	v := struct {
		Brand brand
		Data  receiptData
	}{brandOf(t), d}
	var subject, text, body, html bytes.Buffer
	for _, r := range []struct {
		t interface{ Execute(io.Writer, any) error }
		w *bytes.Buffer
	}{{receiptTemplates.subject, &subject}, {receiptTemplates.text, &text}, {receiptTemplates.html, &body}} {
		if err := r.t.Execute(r.w, v); err != nil {
			return tenantkit.EmailMessage{}, fmt.Errorf("render receipt of order %d: %w", o.ID, err)
		}
	}
	subj := strings.Join(strings.Fields(subject.String()), " ")
	err := receiptTemplates.layout.Execute(&html, struct {
		Brand   brand
		Subject string
		Body    htmltemplate.HTML
	}{v.Brand, subj, htmltemplate.HTML(body.String())}) //nolint:gosec // html/template output, escaped already
	if err != nil {
		return tenantkit.EmailMessage{}, fmt.Errorf("render receipt of order %d: %w", o.ID, err)
	}
	return tenantkit.EmailMessage{
		To:      []tenantkit.EmailAddress{{Name: o.CustomerName, Email: to}},
		Subject: subj, Text: text.String(), HTML: html.String(), Tag: "receipt",
	}, nil
}

// money formats cents as 11.50, followed by the currency code when there
// is one.
func money(cents int64, currency string) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	s := fmt.Sprintf("%s%d.%02d", sign, cents/100, cents%100)
	if currency != "" {
		s += " " + currency
	}
	return s
}
