package email

import (
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"sort"
	"strings"
)

// ErrInvalidMessage is wrapped by Message.Validate's errors.
var ErrInvalidMessage = errors.New("email: invalid message")

// Address is a mailbox: an optional display name and an address.
type Address struct {
	Name  string
	Email string
}

// String returns a in RFC 5322 form, "Name <user@example.com>", with the
// name quoted or RFC 2047-encoded as needed; a bare address when Name is
// empty.
func (a Address) String() string {
	s := (&mail.Address{Name: a.Name, Address: a.Email}).String()
	if a.Name == "" {
		// net/mail writes "<user@example.com>"; the bare form is as valid
		// and what people expect.
		s = strings.TrimSuffix(strings.TrimPrefix(s, "<"), ">")
	}
	return s
}

// Domain returns the lower-cased part of a.Email after its last "@", or ""
// when there is none.
func (a Address) Domain() string {
	i := strings.LastIndexByte(a.Email, '@')
	if i < 0 {
		return ""
	}
	return strings.ToLower(strings.TrimSuffix(a.Email[i+1:], "."))
}

func (a Address) validate() error {
	if strings.ContainsAny(a.Name, "\r\n") {
		return errors.New("name has a line break")
	}
	parsed, err := mail.ParseAddress(a.Email)
	if err != nil {
		return fmt.Errorf("address %q does not parse", a.Email)
	}
	// A value like "Eve <eve@example.com>" parses too; the name belongs in
	// Name, so only a bare addr-spec is taken.
	if parsed.Name != "" || parsed.Address != a.Email {
		return fmt.Errorf("address %q is not a bare address", a.Email)
	}
	return nil
}

// Message is one email. Text is always required: it is the plain-text
// alternative every HTML message carries and the whole body otherwise.
type Message struct {
	From    Address
	To      []Address
	Cc      []Address
	Bcc     []Address
	ReplyTo *Address
	Subject string
	// Text is the plain-text body.
	Text string
	// HTML is the HTML body; optional.
	HTML string
	// Headers are extra headers, such as List-Unsubscribe. Names are
	// header tokens; values may not hold line breaks; the headers the
	// other fields set (From, To, Subject, Content-Type, …) are refused.
	Headers map[string]string
	// Tag is a provider-side category where the provider has one
	// (SendGrid category, SES and Resend tag "category", Postmark Tag);
	// letters, digits, "_" and "-" only, the characters every provider
	// takes. SMTP ignores it.
	Tag string
}

var (
	headerName = regexp.MustCompile(`^[!-9;-~]+$`) // printable ASCII but ':'
	tagPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

	// reservedHeaders are set from Message's own fields or by the MIME
	// encoding; taking them from Headers would let a caller forge them.
	reservedHeaders = map[string]bool{
		"from": true, "to": true, "cc": true, "bcc": true, "reply-to": true,
		"subject": true, "sender": true, "date": true, "message-id": true,
		"mime-version": true, "content-type": true, "content-transfer-encoding": true,
	}
)

// Validate checks that m can be sent: a From and at least one To, every
// address parses, Subject and header values have no line breaks, Text is
// present. Its errors wrap ErrInvalidMessage.
func (m Message) Validate() error {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if m.From.Email == "" {
		add("from is required")
	} else if err := m.From.validate(); err != nil {
		add("from: %v", err)
	}
	if len(m.To) == 0 {
		add("at least one to address is required")
	}
	for field, list := range map[string][]Address{"to": m.To, "cc": m.Cc, "bcc": m.Bcc} {
		for i, a := range list {
			if err := a.validate(); err != nil {
				add("%s[%d]: %v", field, i, err)
			}
		}
	}
	if m.ReplyTo != nil {
		if err := m.ReplyTo.validate(); err != nil {
			add("reply-to: %v", err)
		}
	}
	if strings.TrimSpace(m.Subject) == "" {
		add("subject is required")
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		add("subject has a line break")
	}
	if strings.TrimSpace(m.Text) == "" {
		add("text is required")
	}
	problems = append(problems, headerProblems(m.Headers)...)
	if m.Tag != "" && !tagPattern.MatchString(m.Tag) {
		add("tag %q: only letters, digits, '_' and '-', at most 128", m.Tag)
	}
	if len(problems) > 0 {
		sort.Strings(problems) // map iteration above; keep errors stable
		return fmt.Errorf("%w: %s", ErrInvalidMessage, strings.Join(problems, "; "))
	}
	return nil
}

func headerProblems(headers map[string]string) []string {
	var problems []string
	for name, value := range headers {
		switch {
		case !headerName.MatchString(name):
			problems = append(problems, fmt.Sprintf("header name %q is not a header token", name))
		case reservedHeaders[strings.ToLower(name)]:
			problems = append(problems, fmt.Sprintf("header %q is set from the message's fields", name))
		case strings.ContainsAny(value, "\r\n\x00"):
			problems = append(problems, fmt.Sprintf("header %q has a line break", name))
		}
	}
	return problems
}

// sortedHeaders returns m.Headers' names in order, so that requests are
// the same from one run to the next.
func (m Message) sortedHeaders() []string {
	names := make([]string, 0, len(m.Headers))
	for name := range m.Headers {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func addressStrings(list []Address) []string {
	if len(list) == 0 {
		return nil
	}
	out := make([]string, len(list))
	for i, a := range list {
		out[i] = a.String()
	}
	return out
}
