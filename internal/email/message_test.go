package email_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/internal/email"
)

func TestAddressString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   email.Address
		want string
	}{
		{email.Address{Email: "ada@example.com"}, "ada@example.com"},
		{email.Address{Name: "Ada Lovelace", Email: "ada@example.com"}, `"Ada Lovelace" <ada@example.com>`},
		{email.Address{Name: `Globex "West", Inc.`, Email: "w@globex.example"}, `"Globex \"West\", Inc." <w@globex.example>`},
		{email.Address{Name: "Zoë", Email: "zoe@example.com"}, "=?utf-8?q?Zo=C3=AB?= <zoe@example.com>"},
	} {
		if got := tc.in.String(); got != tc.want {
			t.Errorf("%#v.String() = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestMessageValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		change func(*email.Message)
		wantIn string // "" for valid
	}{
		{"full message", func(*email.Message) {}, ""},
		{"minimal", func(m *email.Message) { *m = minimalMessage() }, ""},
		{"no from", func(m *email.Message) { m.From = email.Address{} }, "from is required"},
		{"from with name in address", func(m *email.Message) { m.From.Email = "Eve <eve@example.com>" }, "not a bare address"},
		{"from does not parse", func(m *email.Message) { m.From.Email = "not-an-address" }, "does not parse"},
		{"from name with line break", func(m *email.Message) { m.From.Name = "Eve\r\nBcc: x@example.com" }, "line break"},
		{"no to", func(m *email.Message) { m.To = nil }, "at least one to"},
		{"bad cc", func(m *email.Message) { m.Cc = []email.Address{{Email: "@example.com"}} }, "cc[0]"},
		{"bad bcc", func(m *email.Message) { m.Bcc = append(m.Bcc, email.Address{Email: "x"}) }, "bcc[1]"},
		{"bad reply-to", func(m *email.Message) { m.ReplyTo = &email.Address{Email: "nope"} }, "reply-to"},
		{"subject with line break", func(m *email.Message) { m.Subject = "Hi\r\nBcc: victim@example.com" }, "subject has a line break"},
		{"subject with LF", func(m *email.Message) { m.Subject = "Hi\nthere" }, "subject has a line break"},
		{"no subject", func(m *email.Message) { m.Subject = " " }, "subject is required"},
		{"HTML without text", func(m *email.Message) { m.Text = "" }, "text is required"},
		{"header value with line break", func(m *email.Message) { m.Headers = map[string]string{"X-A": "1\nBcc: v@example.com"} }, `header "X-A" has a line break`},
		{"header name with colon", func(m *email.Message) { m.Headers = map[string]string{"X-A:": "1"} }, "not a header token"},
		{"header name with space", func(m *email.Message) { m.Headers = map[string]string{"X A": "1"} }, "not a header token"},
		{"reserved header", func(m *email.Message) { m.Headers = map[string]string{"bcc": "v@example.com"} }, `header "bcc" is set from the message's fields`},
		{"tag with space", func(m *email.Message) { m.Tag = "big sale" }, "tag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := fullMessage()
			tc.change(&m)
			err := m.Validate()
			if tc.wantIn == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, email.ErrInvalidMessage) || !strings.Contains(err.Error(), tc.wantIn) {
				t.Fatalf("Validate = %v, want ErrInvalidMessage with %q", err, tc.wantIn)
			}
		})
	}
}

func ExampleAddress_String() {
	fmt.Println(email.Address{Name: "Globex Support", Email: "help@globex.example"})
	fmt.Println(email.Address{Email: "no-reply@platform.example"})
	// Output:
	// "Globex Support" <help@globex.example>
	// no-reply@platform.example
}
