// Package mailer sends a tenant's mail: through the email integration the
// registry resolves for it (its own account or the platform's), from an
// address the tenant may use (a verified domain of its own, or the
// platform's under its name), rendered with its branding.
package mailer
