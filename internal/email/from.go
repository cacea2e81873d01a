package email

import "strings"

// ChooseFrom picks the From address of a tenant's mail. The tenant's own
// b.FromEmail is used, named b.FromName (or b.ProductName), only when its
// domain is one of tenantVerifiedDomains (compared case-insensitively,
// exact domains: a verified example.com does not cover mail.example.com),
// or when it is the platform's own sender address itself: no other mailbox
// of the platform's domain, which would let a tenant write as the
// platform's billing@ or security@. Providers refuse or spam-folder mail
// from domains the sender has not verified.
//
// Otherwise the mail goes from the platform's address under the tenant's
// name, in the form "<tenant> via <platform>": for b.FromName "Globex" and
// platform {"Platform", "no-reply@platform.example"} that is
// "Globex via Platform <no-reply@platform.example>". With no platform name
// it is just "Globex", and with no tenant name the platform address as it
// is.
func ChooseFrom(b Branding, tenantVerifiedDomains []string, platform Address) Address {
	name := displayName(b.FromName)
	if name == "" {
		name = displayName(b.ProductName)
	}
	own := Address{Name: name, Email: strings.TrimSpace(b.FromEmail)}
	if own.validate() == nil && allowedSender(own, tenantVerifiedDomains, platform) {
		return own
	}
	switch platformName := displayName(platform.Name); {
	case name == "":
		return platform
	case platformName == "":
		return Address{Name: name, Email: platform.Email}
	default:
		return Address{Name: name + " via " + platformName, Email: platform.Email}
	}
}

// displayName collapses runs of white space, line breaks included, so a
// name cannot break a header.
func displayName(s string) string { return strings.Join(strings.Fields(s), " ") }

func allowedSender(own Address, verified []string, platform Address) bool {
	domain := own.Domain()
	if domain == "" {
		return false
	}
	if domain == platform.Domain() {
		return strings.EqualFold(own.Email, strings.TrimSpace(platform.Email))
	}
	for _, d := range verified {
		if domain == strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d), ".")) {
			return true
		}
	}
	return false
}
