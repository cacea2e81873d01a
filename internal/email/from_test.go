package email_test

import (
	"fmt"
	"testing"

	"github.com/tenantkit/tenantkit/internal/email"
)

func TestChooseFrom(t *testing.T) {
	t.Parallel()
	platform := email.Address{Name: "Platform", Email: "no-reply@platform.example"}
	for _, tc := range []struct {
		name     string
		b        email.Branding
		verified []string
		platform email.Address
		want     email.Address
	}{
		{"verified domain", email.Branding{FromName: "Globex", FromEmail: "hello@globex.example"},
			[]string{"globex.example"}, platform, email.Address{Name: "Globex", Email: "hello@globex.example"}},
		{"verified domain, other case", email.Branding{FromName: "Globex", FromEmail: "Hello@GLOBEX.Example"},
			[]string{"Globex.EXAMPLE."}, platform, email.Address{Name: "Globex", Email: "Hello@GLOBEX.Example"}},
		{"product name when no from name", email.Branding{ProductName: "Globex CRM", FromEmail: "hello@globex.example"},
			[]string{"globex.example"}, platform, email.Address{Name: "Globex CRM", Email: "hello@globex.example"}},
		// Another mailbox of the platform's domain is not the tenant's to
		// use, even where the tenant verified that domain.
		{"platform domain", email.Branding{FromName: "Globex", FromEmail: "billing@platform.example"},
			[]string{"platform.example"}, platform, email.Address{Name: "Globex via Platform", Email: "no-reply@platform.example"}},
		{"the platform sender", email.Branding{FromName: "Globex", FromEmail: "No-Reply@platform.example"},
			nil, platform, email.Address{Name: "Globex", Email: "No-Reply@platform.example"}},
		{"unverified domain", email.Branding{FromName: "Globex", FromEmail: "hello@globex.example"},
			[]string{"initech.example"}, platform, email.Address{Name: "Globex via Platform", Email: "no-reply@platform.example"}},
		{"subdomain of a verified domain", email.Branding{FromName: "Globex", FromEmail: "hello@mail.globex.example"},
			[]string{"globex.example"}, platform, email.Address{Name: "Globex via Platform", Email: "no-reply@platform.example"}},
		{"look-alike suffix", email.Branding{FromName: "Globex", FromEmail: "hello@evilglobex.example"},
			[]string{"globex.example"}, platform, email.Address{Name: "Globex via Platform", Email: "no-reply@platform.example"}},
		{"no from email", email.Branding{ProductName: "Globex"},
			[]string{"globex.example"}, platform, email.Address{Name: "Globex via Platform", Email: "no-reply@platform.example"}},
		{"from email does not parse", email.Branding{FromName: "Globex", FromEmail: "Globex <hello@globex.example>"},
			[]string{"globex.example"}, platform, email.Address{Name: "Globex via Platform", Email: "no-reply@platform.example"}},
		{"no tenant name", email.Branding{FromEmail: "hello@globex.example"},
			nil, platform, platform},
		{"platform without name", email.Branding{FromName: "Globex", FromEmail: "hello@globex.example"},
			nil, email.Address{Email: "no-reply@platform.example"}, email.Address{Name: "Globex", Email: "no-reply@platform.example"}},
		{"line breaks in names collapse", email.Branding{FromName: "Globex\r\nBcc: x@example.com", FromEmail: "a@b.example"},
			nil, platform, email.Address{Name: "Globex Bcc: x@example.com via Platform", Email: "no-reply@platform.example"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := email.ChooseFrom(tc.b, tc.verified, tc.platform); got != tc.want {
				t.Errorf("ChooseFrom = %#v, want %#v", got, tc.want)
			}
		})
	}
}

func ExampleChooseFrom() {
	platform := email.Address{Name: "Platform", Email: "no-reply@platform.example"}
	b := email.Branding{ProductName: "Globex", FromName: "Globex", FromEmail: "hello@globex.example"}

	fmt.Println(email.ChooseFrom(b, []string{"globex.example"}, platform))
	fmt.Println(email.ChooseFrom(b, nil, platform))
	// Output:
	// "Globex" <hello@globex.example>
	// "Globex via Platform" <no-reply@platform.example>
}
